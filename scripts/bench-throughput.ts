/**
 * Cases 1 and 2 of the benchmark: draining a backlog with a no-op handler, and with 1 ms of
 * native CPU per message, through the raw main-thread loop and through a deployed jetfn function
 * (an `fn start` replica, pool threads = cores, warmed up by one uncounted drain). The raw loop
 * runs in a fresh child process per run, as in the limit script; this process only fills the
 * backlogs. Runs are interleaved raw, jetfn, raw, jetfn, … so that a slow drift of the machine
 * spreads over both sides; rows show medians.
 */
import { availableParallelism } from 'node:os'
import { addRawConsumer, rawDrainInChild, type RawMode } from './bench-raw.ts'
import { deployAndDrain, undeploy, type BenchEnv } from './bench-jetfn.ts'
import { BULLMQ_CONCURRENCY, bullmqRun, piscinaRun, type PeerDrain } from './bench-peers.ts'
import { benchProject, fill, freePort, functionSource, median, procCpuUs, startFnProcess, stopProcess, waitReady, type BenchProject } from './bench-support.ts'
import { fmtInt, msgRate, type CaseResult } from './bench-report.ts'

/** The server's cap on unacked messages for the raw loop: far above what it holds. */
const RAW_MAX_ACK_PENDING = 20_000

interface DrainSpec {
  key: string
  n: number
  /** pbkdf2 iterations per message; 0 for a no-op. */
  work: number
  rawMaxMessages: number
  concurrency: number
  /** Messages of the uncounted warm-up drain (default a quarter of `n`). */
  warmup?: number
  /**
   * Also measure, for context (case 1), the raw loop with acks sent once per event-loop turn and
   * the thread ceiling: the raw loop on one connection per pool thread, nothing else.
   */
  context?: boolean
}

interface DrainRuns {
  raw: number[]
  perTick: number[]
  threads: number[]
  /** CPU per message, µs, of the thread ceiling's drain (its threads' start-up left out). */
  threadsCpu: number[]
  jetfn: number[]
  /** CPU per message, µs, of the raw child (over its drain) and of the replica (deploy to drained). */
  rawCpu: number[]
  jetfnCpu: number[]
  /** `--peers`, case 1 only: the hand-written piscina loop and BullMQ, one drain per run. */
  piscina: PeerDrain[]
  bullmq: PeerDrain[]
}

/** A drain's rate and CPU per message. */
interface Drain {
  rate: number
  cpuUsPerMsg: number
}

async function drainRuns(env: BenchEnv, spec: DrainSpec): Promise<DrainRuns> {
  const httpPort = await freePort()
  const project = await benchProject(env.root, spec.key, { httpPort })
  const raw: number[] = []
  const perTick: number[] = []
  const threads: number[] = []
  const threadsCpu: number[] = []
  const jetfn: number[] = []
  const rawCpu: number[] = []
  const jetfnCpu: number[] = []
  const piscina: PeerDrain[] = []
  const bullmq: PeerDrain[] = []
  // One replica for every run, as a replica runs in production: started once, warmed up by one
  // drain that is not counted (a fresh process spent the first part of its drain in the JIT:
  // 47k msg/s against 64k warm).
  const replica = startFnProcess(env.root, project.configFile, env.url)
  try {
    await waitReady(httpPort, replica)
    const warm = await jetfnDrain(env, project, spec, 'warm', spec.warmup ?? Math.ceil(spec.n / 4), replica.pid!)
    env.log(`${spec.key} warm-up jetfn (not counted): ${fmtInt(warm.rate)} msg/s`)
    for (let r = 1; r <= env.runs; r++) {
      const base = await rawRun(env, spec, `${r}_RAW`, 'callback')
      raw.push(base.rate)
      rawCpu.push(base.cpuUsPerMsg)
      env.log(`${spec.key} run ${r} raw:   ${fmtInt(base.rate)} msg/s, ${base.cpuUsPerMsg} µs CPU/msg`)
      if (spec.context) {
        perTick.push((await rawRun(env, spec, `${r}_TICK`, 'per-tick')).rate)
        env.log(`${spec.key} run ${r} raw, acks per tick: ${fmtInt(perTick.at(-1)!)} msg/s`)
        const ceiling = await rawRun(env, spec, `${r}_THREADS`, 'threads')
        threads.push(ceiling.rate)
        threadsCpu.push(ceiling.cpuUsPerMsg)
        env.log(`${spec.key} run ${r} raw, ${availableParallelism()} threads with own connections: ${fmtInt(ceiling.rate)} msg/s, ${ceiling.cpuUsPerMsg} µs CPU/msg`)
      }
      const fn = await jetfnDrain(env, project, spec, `${r}`, spec.n, replica.pid!)
      jetfn.push(fn.rate)
      jetfnCpu.push(fn.cpuUsPerMsg)
      env.log(`${spec.key} run ${r} jetfn: ${fmtInt(fn.rate)} msg/s, ${fn.cpuUsPerMsg} µs CPU/msg`)
      if (spec.context && env.peers) {
        const p = await piscinaRun(env, `${spec.key}_${r}`, spec.n, availableParallelism())
        piscina.push(p)
        env.log(`${spec.key} run ${r} peer piscina: ${fmtInt(msgRate(spec.n, p.ms))} msg/s`)
        if (env.peers.redis) {
          const b = await bullmqRun(env.peers.redis, `${spec.key}_${r}`, spec.n, BULLMQ_CONCURRENCY)
          bullmq.push(b)
          env.log(`${spec.key} run ${r} peer bullmq: ${fmtInt(msgRate(spec.n, b.ms))} msg/s`)
        }
      }
    }
  } finally {
    await stopProcess(replica)
  }
  return { raw, perTick, threads, threadsCpu, jetfn, rawCpu, jetfnCpu, piscina, bullmq }
}

/** Drains a backlog of `spec.n` through the raw loop in a child process. */
async function rawRun(env: BenchEnv, spec: DrainSpec, suffix: string, mode: RawMode): Promise<Drain> {
  const stream = `${spec.key.toUpperCase()}_${suffix}`
  await env.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
  try {
    await addRawConsumer(env.jsm, stream, `${stream}.in`, RAW_MAX_ACK_PENDING)
    await fill(env.nc, env.jsm, stream, `${stream}.in`, spec.n)
    const { ms, cpuUs } = await rawDrainInChild({ url: env.url, stream, n: spec.n, work: spec.work, maxMessages: spec.rawMaxMessages, mode, threads: availableParallelism() })
    return { rate: msgRate(spec.n, ms), cpuUsPerMsg: +(cpuUs / spec.n).toFixed(1) }
  } finally {
    await env.jsm.streams.delete(stream)
  }
}

/**
 * Drains `n` messages through a new function deployed to the running replica (`pid`). Its CPU per
 * message is the replica's utime + stime (/proc, every thread, 10 ms ticks) from the deploy to the
 * consumer drained: loading the bundle into the pool's threads is in it.
 */
async function jetfnDrain(env: BenchEnv, project: BenchProject, spec: DrainSpec, run: string, n: number, pid: number): Promise<Drain> {
  const stream = `${spec.key.toUpperCase()}_${run.toUpperCase()}_FN`
  const name = `${spec.key}_${run}`
  await env.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
  try {
    await fill(env.nc, env.jsm, stream, `${stream}.in`, n)
    const handler = spec.work > 0 ? `pbkdf2Sync('jetfn', 'salt', ${spec.work}, 32, 'sha256')` : ''
    const imports = spec.work > 0 ? "import { pbkdf2Sync } from 'node:crypto'" : ''
    const file = await project.addFunction(name, functionSource({ name, subject: `${stream}.in`, concurrency: spec.concurrency, handler, imports }))
    const cpu0 = await procCpuUs(pid)
    const ms = await deployAndDrain(env, project.functionsDir, file, name, stream)
    return { rate: msgRate(n, ms), cpuUsPerMsg: +(((await procCpuUs(pid)) - cpu0) / n).toFixed(1) }
  } finally {
    await undeploy(env, [name])
    await env.jsm.streams.delete(stream)
  }
}

/**
 * Case 1: no-op handler, 200,000 backlog (quick: 10,000). Target: jetfn ≥ 0.8 × raw. The function
 * may hold as many messages as the raw loop buffers (concurrency = its max_messages, 4,000): at
 * 512 it drained 44k-53k msg/s against 57k-61k, the gap being wake-ups per smaller batch.
 */
export async function throughputCase(env: BenchEnv): Promise<CaseResult> {
  const spec: DrainSpec = { key: 'throughput', n: env.quick ? 10_000 : 200_000, work: 0, rawMaxMessages: 4_000, concurrency: 4_000, context: true }
  const { raw, perTick, threads, threadsCpu, jetfn, rawCpu, jetfnCpu, piscina, bullmq } = await drainRuns(env, spec)
  const ratio = median(jetfn) / median(raw)
  const perTickRatio = median(jetfn) / median(perTick)
  const ceiling = median(threads) / median(raw)
  return {
    case: 'throughput',
    title: `1. drain ${fmtInt(spec.n)}, no-op`,
    baseline: { value: median(raw), unit: 'msg/s', text: `${fmtInt(median(raw))} msg/s` },
    jetfn: { value: median(jetfn), unit: 'msg/s', text: `${fmtInt(median(jetfn))} msg/s` },
    // Judged against the faster (callback) loop; the per-tick loop is the "~76k" row.
    comparison: { kind: 'ratio', value: +ratio.toFixed(3), text: `${ratio.toFixed(2)}x (${perTickRatio.toFixed(2)}x of acks-per-tick raw; thread ceiling ${ceiling.toFixed(2)}x)` },
    target: '>= 0.8x',
    pass: ratio >= 0.8,
    details: {
      messages: spec.n,
      rawRuns: raw,
      rawPerTickRuns: perTick,
      rawPerTick: `for await over consume({ max_messages: ${spec.rawMaxMessages} }), acks sent once per event-loop turn, ackAck() on the last`,
      ratioToPerTick: +perTickRatio.toFixed(3),
      rawThreadsRuns: threads,
      rawThreads: `${availableParallelism()} worker threads, each its own connection and consume({ max_messages: ${spec.rawMaxMessages}, callback }) with m.ack() on the one durable consumer: the ceiling of a design whose handlers run on threads`,
      threadCeiling: +ceiling.toFixed(3),
      rawThreadsCpuUsPerMsgRuns: threadsCpu,
      rawThreadsCpu: 'process.cpuUsage() of the raw child from its threads being told to start to drained (their start-up left out): the least CPU per message of a design whose handlers run on threads',
      jetfnRuns: jetfn,
      rawCpuUsPerMsgRuns: rawCpu,
      jetfnCpuUsPerMsgRuns: jetfnCpu,
      cpuPerMessage: 'raw: process.cpuUsage() of the raw child over its drain; jetfn: utime + stime of the fn start replica from /proc, deploy to drained (bundle load included); every thread of each process',
      ...(env.peers ? { peers: { piscinaRuns: piscina, bullmqRuns: bullmq, bullmqConcurrency: BULLMQ_CONCURRENCY, redis: env.peers.redis?.version ?? null } } : {}),
      raw: `main-thread consume({ max_messages: ${spec.rawMaxMessages}, callback }), m.ack() per message, ackAck() on the last, in a child process; clock from consume() to the consumer drained`,
      jetfn: `no-op function, concurrency ${spec.concurrency}, ${availableParallelism()} pool threads, fn start child; clock from deployFunctions returning to the consumer drained`,
    },
  }
}

/**
 * Case 2: ~1 ms of pbkdf2 per message. Target: jetfn with threads = cores ≥ 1.7 × raw. As in case
 * 1, the function holds as many messages as the raw loop buffers (256; at 64, 3-6 % slower: more
 * wake-ups per message on the main thread and in nats-server). Its warm-up is a full drain: after
 * a quarter-size one, the first counted run was the slowest of three in every full run (1,203 vs
 * 2,002 and 1,974 msg/s; 1,801 vs 2,105 and 2,165).
 */
export async function cpuCase(env: BenchEnv, iterations: number): Promise<CaseResult> {
  const spec: DrainSpec = { key: 'cpu', n: env.quick ? 300 : 4_000, work: iterations, rawMaxMessages: 256, concurrency: 256, warmup: env.quick ? 300 : 4_000 }
  const { raw, jetfn, rawCpu, jetfnCpu } = await drainRuns(env, spec)
  const ratio = median(jetfn) / median(raw)
  return {
    case: 'cpu',
    title: `2. 1 ms CPU/msg, ${fmtInt(spec.n)}`,
    baseline: { value: median(raw), unit: 'msg/s', text: `${fmtInt(median(raw))} msg/s` },
    jetfn: { value: median(jetfn), unit: 'msg/s', text: `${fmtInt(median(jetfn))} msg/s` },
    comparison: { kind: 'ratio', value: +ratio.toFixed(3), text: `${ratio.toFixed(2)}x` },
    target: '>= 1.7x',
    pass: ratio >= 1.7,
    details: {
      messages: spec.n,
      pbkdf2Iterations: iterations,
      threads: availableParallelism(),
      rawRuns: raw,
      jetfnRuns: jetfn,
      rawCpuUsPerMsgRuns: rawCpu,
      jetfnCpuUsPerMsgRuns: jetfnCpu,
      raw: `main-thread consume({ max_messages: ${spec.rawMaxMessages}, callback }), pbkdf2Sync then m.ack() per message`,
      jetfn: `pbkdf2Sync function, concurrency ${spec.concurrency}, pool threads = ${availableParallelism()}`,
    },
  }
}
