/**
 * The raw baseline of the benchmark: nats.js v3 on the main thread, with no runtime around it,
 * written the fastest way NATS-NOTES found: `consume({ callback })` with `m.ack()` in the callback.
 * Each measurement opens its own connection, as a replica has its own.
 */
import { spawnTied } from '../runtime/process/spawn-tied.ts'
import { Worker } from 'node:worker_threads'
import { pbkdf2Sync } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { AckPolicy, jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node'
import { nowUs, waitDrained } from './bench-support.ts'

/** The raw loop's durable consumer (the piscina peer drains the same one). */
export const RAW_DURABLE = 'raw'
const DURABLE = RAW_DURABLE

/** Creates the raw loop's durable consumer; call it before filling the backlog. */
export async function addRawConsumer(jsm: JetStreamManager, stream: string, subject: string, maxAckPending: number): Promise<void> {
  await jsm.consumers.add(stream, { durable_name: DURABLE, ack_policy: AckPolicy.Explicit, filter_subject: subject, max_ack_pending: maxAckPending, ack_wait: nanos(60_000) })
}

/** Options of {@link rawDrain}. */
export interface RawDrainOptions {
  url: string
  jsm: JetStreamManager
  stream: string
  /** Messages in the backlog. */
  n: number
  /** pbkdf2 iterations per message (0: no-op). */
  work: number
  /** `consume()` pull size. */
  maxMessages: number
  /** Called for each message before its ack (latency: records the receive time). */
  onMessage?: (data: Uint8Array) => void
  /** Called once the consume loop is subscribed (latency: the publisher starts then). */
  onReady?: () => void
}

/**
 * Drains `n` messages through the raw consume+ack loop and returns the milliseconds from the
 * `consume()` call to the consumer drained on the server (num_pending 0, num_ack_pending 0).
 */
export async function rawDrain(o: RawDrainOptions): Promise<number> {
  const nc = await connect({ servers: o.url, noAsyncTraces: true, name: 'bench raw' })
  try {
    const consumer = await jetstream(nc).consumers.get(o.stream, DURABLE)
    let count = 0
    let resolve!: (last: { ackAck(): Promise<boolean> }) => void
    const done = new Promise<{ ackAck(): Promise<boolean> }>((r) => (resolve = r))
    const start = performance.now()
    const messages = await consumer.consume({
      max_messages: o.maxMessages,
      callback: (m) => {
        o.onMessage?.(m.data)
        if (o.work > 0) pbkdf2Sync('jetfn', 'salt', o.work, 32, 'sha256')
        if (++count < o.n) m.ack()
        else if (count === o.n) resolve(m)
      },
    })
    await nc.flush()
    o.onReady?.()
    const last = await done
    // One confirmed ack at the end instead of one per message: the server applies the acks of a
    // connection in the order they were written, so once this one is confirmed every plain ack
    // before it has been applied too (the same argument as the runtime's Settler.ack).
    const confirmed = await last.ackAck()
    if (!confirmed) throw new Error('raw: the last ack was not confirmed')
    return await drained(o, start, messages)
  } finally {
    await nc.close()
  }
}

/**
 * The raw loop as the table names it ("acks flushed per tick", ~76k msg/s there): a
 * `for await` over `consume()`, acks gathered and sent once per event-loop turn, one ackAck() on
 * the last. Measured beside {@link rawDrain} (the callback form, the client's limit) for context.
 */
export async function rawDrainPerTick(o: Omit<RawDrainOptions, 'onMessage' | 'onReady'>): Promise<number> {
  const nc = await connect({ servers: o.url, noAsyncTraces: true, name: 'bench raw per tick' })
  try {
    const consumer = await jetstream(nc).consumers.get(o.stream, DURABLE)
    const start = performance.now()
    const messages = await consumer.consume({ max_messages: o.maxMessages })
    let count = 0
    let pending: Array<{ ack(): void }> = []
    let scheduled = false
    const flush = (): void => {
      scheduled = false
      for (const m of pending) m.ack()
      pending = []
    }
    for await (const m of messages) {
      if (o.work > 0) pbkdf2Sync('jetfn', 'salt', o.work, 32, 'sha256')
      if (++count < o.n) {
        pending.push(m)
        if (!scheduled) {
          scheduled = true
          setImmediate(flush)
        }
        continue
      }
      flush()
      if (!(await m.ackAck())) throw new Error('raw per tick: the last ack was not confirmed')
      break
    }
    return await drained(o, start, messages)
  } finally {
    await nc.close()
  }
}

/**
 * The ceiling of any design that runs handlers on worker threads: `threads` worker threads, each
 * with its own connection running the raw callback loop (no-op, `m.ack()` per message) on the one
 * durable consumer, and nothing else: no runtime, no hand-over between threads. Returns the ms
 * from the threads being told to start to the consumer drained on the server (which also confirms
 * every ack), and the CPU this process spent meanwhile (every thread, µs): the threads' start-up
 * (an isolate each, and tsx compiling their entry) is left out, as a running replica's is. Context
 * for case 1: on 2 cores this drained at 0.83x-0.87x of the main-thread loop, and spent 9.4-9.7 µs
 * of CPU per message against 5.6-5.9 for the main-thread loop.
 */
export async function rawDrainThreads(o: Omit<RawDrainOptions, 'onMessage' | 'onReady' | 'work'> & { threads: number }): Promise<{ ms: number; cpuUs: number }> {
  const file = new URL('./bench-raw-thread.ts', import.meta.url).href
  // A worker's entry file does not go through tsx's hooks on Node 20; tsImport loads it.
  const shim = `import('tsx/esm/api').then((tsx) => tsx.tsImport(${JSON.stringify(file)}, ${JSON.stringify(import.meta.url)}))`
  const workerData = { url: o.url, stream: o.stream, maxMessages: o.maxMessages, durable: DURABLE }
  const threads = Array.from({ length: o.threads }, () => new Worker(shim, { eval: true, workerData }))
  // Watched from the start: a thread that fails early has exited before the finally below.
  const exited = threads.map((w) => new Promise((resolve) => w.once('exit', resolve)))
  const said = (w: Worker, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      w.once('error', reject)
      const on = (m: unknown): void => {
        if (m !== what) return
        w.off('message', on)
        resolve()
      }
      w.on('message', on)
    })
  try {
    await Promise.all(threads.map((w) => said(w, 'ready')))
    const cpu0 = process.cpuUsage()
    const start = performance.now()
    const started = threads.map((w) => said(w, 'started'))
    for (const w of threads) w.postMessage('go')
    await Promise.all(started)
    await waitDrained(o.jsm, o.stream, DURABLE, { pollMs: 5 })
    const ms = performance.now() - start
    const cpu = process.cpuUsage(cpu0)
    return { ms, cpuUs: cpu.user + cpu.system }
  } finally {
    for (const w of threads) w.postMessage('stop')
    await Promise.all(exited)
  }
}

/** How a raw measurement drains: see {@link rawDrain}, {@link rawDrainPerTick}, {@link rawDrainThreads}. */
export type RawMode = 'callback' | 'per-tick' | 'threads'

/**
 * A raw drain of `mode` in a fresh child process; returns the milliseconds it measured and the
 * child's CPU (user + system, every thread) over the drain, in µs.
 */
export async function rawDrainInChild(o: { url: string; stream: string; n: number; work: number; maxMessages: number; mode: RawMode; threads?: number }): Promise<{ ms: number; cpuUs: number }> {
  const child = spawnTied(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./bench-raw-child.ts', import.meta.url)), JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  const line = out.trim().split('\n').at(-1) ?? ''
  if (code !== 0 || !line.startsWith('{')) throw new Error(`raw child exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`)
  return JSON.parse(line) as { ms: number; cpuUs: number }
}

/** Waits until the server shows the consumer drained; returns the ms since `start` and closes the loop. */
async function drained(o: { jsm: JetStreamManager; stream: string }, start: number, messages: { close(): Promise<unknown> }): Promise<number> {
  await waitDrained(o.jsm, o.stream, DURABLE)
  const elapsed = performance.now() - start
  await messages.close()
  return elapsed
}

/** Publishes `n` messages at `rate` per second with `js.publish`; each payload carries its send time. */
export async function publishAtRate(js: JetStreamClient, subject: string, n: number, rate: number, payload: (i: number) => string): Promise<void> {
  const start = performance.now()
  let sent = 0
  const acks: Promise<unknown>[] = []
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(n, Math.floor(((performance.now() - start) * rate) / 1000) + 1)
      while (sent < due) acks.push(js.publish(subject, payload(sent++)))
      if (sent >= n) {
        clearInterval(timer)
        resolve()
      }
    }
    const timer = setInterval(tick, 1)
    tick()
  })
  await Promise.all(acks)
}

/** A latency payload: the send time in µs (CLOCK_MONOTONIC) and an index. */
export function latencyPayload(i: number): string {
  return `{"t":${nowUs()},"i":${i},"orderId":"o-123456"}`
}

/** The raw side of the latency case: receive time minus send time, in µs, per message. */
export async function rawLatency(o: { url: string; nc: NatsConnection; jsm: JetStreamManager; stream: string; subject: string; n: number; rate: number }): Promise<Float64Array> {
  const lats = new Float64Array(o.n)
  let i = 0
  const decoder = new TextDecoder()
  let ready!: () => void
  const isReady = new Promise<void>((r) => (ready = r))
  const drained = rawDrain({
    url: o.url,
    jsm: o.jsm,
    stream: o.stream,
    n: o.n,
    work: 0,
    maxMessages: 256,
    onMessage: (data) => {
      if (i < o.n) lats[i++] = nowUs() - (JSON.parse(decoder.decode(data)) as { t: number }).t
    },
    onReady: ready,
  })
  await Promise.race([isReady, drained])
  await publishAtRate(jetstream(o.nc), o.subject, o.n, o.rate, latencyPayload)
  await drained
  return lats
}
