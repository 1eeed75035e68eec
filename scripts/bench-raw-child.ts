/**
 * One raw-loop measurement in a process of its own, as the limit script measures it: the parent
 * fills the backlog, this process only drains it, so neither side of a ratio pays for the other's
 * garbage or work. Usage: `node --import tsx scripts/bench-raw-child.ts '<json options>'`; prints
 * `{"ms": <elapsed>, "cpuUs": <CPU of the drain, every thread>}` on stdout.
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { rawDrain, rawDrainPerTick, rawDrainThreads, type RawMode } from './bench-raw.ts'

interface ChildOptions {
  url: string
  stream: string
  n: number
  work: number
  maxMessages: number
  mode: RawMode
  threads?: number
}

const o = JSON.parse(process.argv[2] ?? '{}') as ChildOptions
const nc = await connect({ servers: o.url, noAsyncTraces: true, name: 'bench raw child' })
try {
  const jsm = await jetstreamManager(nc)
  const options = { url: o.url, jsm, stream: o.stream, n: o.n, work: o.work, maxMessages: o.maxMessages }
  // CPU of this process (every thread) over the drain: the raw side of CPU per message. The
  // threads mode measures its own, from its threads' start to drained (their start-up left out).
  const cpu0 = process.cpuUsage()
  let result: { ms: number; cpuUs: number }
  if (o.mode === 'threads') {
    result = await rawDrainThreads({ ...options, threads: o.threads ?? 2 })
  } else {
    const ms = o.mode === 'per-tick' ? await rawDrainPerTick(options) : await rawDrain(options)
    const cpu = process.cpuUsage(cpu0)
    result = { ms, cpuUs: cpu.user + cpu.system }
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
} finally {
  await nc.close()
}
