/**
 * Deploy latency: the time from `fn deploy` returning to the first message handled by the new
 * version, with a replica already running (in-process, as `fn start` runs it) on one machine.
 *
 *   npx tsx scripts/bench-deploy.ts [--runs 7]
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { pino } from 'pino'
import { resolveConfig } from '../runtime/config/config-schema.ts'
import { deployFunctions } from '../runtime/deploy/deploy-functions.ts'
import { NatsServerProcess } from '../runtime/nats/nats-server-process.ts'
import { runReplica } from '../runtime/replica/run-replica.ts'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' } } })
const runs = Number(values.runs)
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, '.fn', 'bench-deploy')
const file = join(dir, 'functions', 'tagged.ts')
const source = (tag: number) => `import { defineFunction } from 'jetfn'
export default defineFunction({
  subject: 'bench.in',
  async handler(event, ctx) { ctx.publish('bench.out', { tag: ${tag}, at: Date.now() }) },
})
`

const server = await NatsServerProcess.start()
const config = resolveConfig({ nats: { servers: server.url }, streams: [{ name: 'BENCH', subjects: ['bench.>'] }], http: { port: 0 } }, { file: 'bench', env: {} })
const log = pino({ level: 'warn' })
await mkdir(join(dir, 'functions'), { recursive: true })
const running = await runReplica({ config, log, home: join(root, '.fn') })
const nc = running.nc
const js = jetstream(nc)
const jsm = await jetstreamManager(nc)
const samples: number[] = []
try {
  for (let i = 0; i <= runs; i++) {
    const tag = Date.now() * 1000 + i
    await writeFile(file, source(tag))
    const seen = new Promise<number>((resolve) => {
      const sub = nc.subscribe('bench.out', {
        callback: (_err, m) => {
          const body = m.json<{ tag: number; at: number }>()
          if (body.tag === tag) {
            sub.unsubscribe()
            resolve(body.at)
          }
        },
      })
    })
    await deployFunctions({ config, registry: running.registry, jsm, files: [file], home: join(root, '.fn'), cwd: dir })
    const returned = Date.now()
    // Offer messages until one is handled by the new version: the first that reaches it counts.
    const pump = setInterval(() => void js.publish('bench.in', '{}'), 5)
    const handledAt = await seen
    clearInterval(pump)
    if (i > 0) samples.push(handledAt - returned) // the first deploy creates the consumer: not a redeploy
    console.log(i === 0 ? `warm-up deploy: ${handledAt - returned} ms` : `deploy ${i}: ${handledAt - returned} ms from deploy returning to the first message on the new version`)
  }
  const sorted = [...samples].sort((a, b) => a - b)
  console.log(`median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms over ${samples.length} deploys (target: under 1000 ms)`)
} finally {
  await running.stop(1_000)
  await server.stop()
  await rm(dir, { recursive: true, force: true })
}
