/**
 * Peak RSS by backlog size: a fresh `fn start` replica per drain (as in the bench's case 4, a no-op
 * function at concurrency 512), for each size in turn, `--rounds` times. Case 4 compares one
 * small and one large backlog; this shows whether the peak follows the backlog at all.
 *
 *   npx tsx scripts/memory-by-backlog.ts [--sizes 10000,100000,300000,1000000] [--rounds 2]
 *
 * Measured on Mon Nov 30 2026 (2 cores), two rounds: 10,000 peaked at 138.9 and 135.6 MiB;
 * 100,000 at 135.8 and 167.5; 300,000 at 181.2 and 138.6; 1,000,000 at 159.7 and 202.2. The
 * peak does not grow with the backlog: from 100,000 up, each size lands near the small drain's
 * level or 25–65 MiB above it, by how far V8 let the main thread's old space grow.
 */
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { NatsServerProcess } from '../runtime/nats/nats-server-process.ts'
import { openRegistry, type BenchEnv } from './bench-jetfn.ts'
import { peakRss } from './bench-process.ts'
import { fmtInt, mib } from './bench-report.ts'
import { benchProject } from './bench-support.ts'

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10000,100000,300000,1000000' }, rounds: { type: 'string', default: '2' } } })
const sizes = values.sizes.split(',').map((s) => {
  const n = Number(s.trim())
  if (!Number.isInteger(n) || n < 1) throw new Error(`--sizes: '${s.trim()}' is not a positive integer (e.g. --sizes 10000,1000000)`)
  return n
})
const rounds = Number(values.rounds)
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer (got '${values.rounds}')`)

const root = fileURLToPath(new URL('..', import.meta.url))
const server = await NatsServerProcess.start()
const nc = await connect({ servers: server.url, noAsyncTraces: true })
try {
  const env: BenchEnv = { url: server.url, root, nc, jsm: await jetstreamManager(nc), registry: await openRegistry(nc), quick: false, runs: 1, log: console.log }
  const project = await benchProject(root, 'memory-by-backlog')
  for (let round = 1; round <= rounds; round++) {
    for (const n of sizes) {
      const { hwm, seconds } = await peakRss(env, project, n, `by_backlog_${round}_${n}`)
      console.log(`round ${round}, ${fmtInt(n)} messages: peak RSS ${mib(hwm)} MiB, drained in ${seconds} s`)
    }
  }
} finally {
  await nc.close()
  await server.stop()
}
