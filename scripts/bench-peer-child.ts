/**
 * One drain of a peer of jetfn (`npm run bench -- --peers`) in a fresh process, so that its CPU
 * and heap are its own: `{ peer: 'piscina', … }` is the loop a user would write by hand (nats.js
 * `consume()` handing batches of 256 to piscina, the main thread acking, as in
 * the raw-limit study's "batch 256 packed ack" pool mode); `{ peer: 'bullmq', … }` is a BullMQ worker with a
 * no-op processor on a queue the parent filled. Prints `{ ms, cpuUs }`: the drain's wall time and
 * this process's CPU (every thread) over it.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { Piscina } from 'piscina'
import { RAW_DURABLE } from './bench-raw.ts'
import { waitDrained } from './bench-support.ts'

/** What the parent passes as the one argument (JSON). */
export type PeerChildOptions =
  | { peer: 'piscina'; url: string; stream: string; n: number; batch: number; maxMessages: number; threads: number }
  | { peer: 'bullmq'; redisPort: number; queue: string; n: number; concurrency: number }

const o = JSON.parse(process.argv[2] ?? '{}') as PeerChildOptions
const cpu0 = process.cpuUsage()
const ms = o.peer === 'piscina' ? await piscinaDrain(o) : await bullmqDrain(o)
const cpu = process.cpuUsage(cpu0)
process.stdout.write(`${JSON.stringify({ ms, cpuUs: cpu.user + cpu.system })}\n`)

/**
 * The hand-written loop: batches of up to `batch` messages (or what one event-loop turn brought)
 * copied into one transferred buffer (`m.data` is a view into the socket buffer, NATS-NOTES), at
 * most 2 tasks per thread in flight, `m.ack()` per message as a batch comes back. Clock: from
 * `consume()` to the consumer drained on the server.
 */
async function piscinaDrain(p: Extract<PeerChildOptions, { peer: 'piscina' }>): Promise<number> {
  const nc = await connect({ servers: p.url, noAsyncTraces: true, name: 'bench peer piscina' })
  const pool = new Piscina({ filename: new URL('./bench-peer-worker.mjs', import.meta.url).href, minThreads: p.threads, maxThreads: p.threads })
  try {
    const jsm = await jetstreamManager(nc)
    const consumer = await jetstream(nc).consumers.get(p.stream, RAW_DURABLE)
    const maxTasks = 2 * p.threads
    let tasks = 0
    let batch: JsMsg[] = []
    let scheduled = false
    let wake: (() => void) | undefined
    let failed = 0
    const settle = (msgs: JsMsg[], out: Uint8Array | null): void => {
      tasks--
      for (let i = 0; i < msgs.length; i++) {
        if (out && out[i] === 0) msgs[i]!.ack()
        else {
          msgs[i]!.nak()
          failed++
        }
      }
      if (wake) {
        const w = wake
        wake = undefined
        w()
      }
      schedule()
    }
    const dispatch = (): void => {
      if (batch.length === 0) return
      const msgs = batch
      batch = []
      let total = 0
      for (const m of msgs) total += m.data.length
      const buf = new Uint8Array(total)
      const offs = new Uint32Array(msgs.length + 1)
      let at = 0
      for (let i = 0; i < msgs.length; i++) {
        offs[i] = at
        buf.set(msgs[i]!.data, at)
        at += msgs[i]!.data.length
      }
      offs[msgs.length] = at
      tasks++
      pool.run({ n: msgs.length, buf, offs }, { transferList: [buf.buffer, offs.buffer] }).then(
        (out: Uint8Array) => settle(msgs, out),
        () => settle(msgs, null),
      )
    }
    function schedule(): void {
      if (scheduled || batch.length === 0) return
      scheduled = true
      setImmediate(() => {
        scheduled = false
        if (tasks < maxTasks) dispatch()
      })
    }
    // The threads start before the clock, as a replica's are up before it pulls.
    await Promise.all(Array.from({ length: p.threads }, () => pool.run({ n: 0, buf: new Uint8Array(0), offs: new Uint32Array(1) })))
    const start = performance.now()
    const messages = await consumer.consume({ max_messages: p.maxMessages })
    let count = 0
    for await (const m of messages) {
      batch.push(m)
      if (++count === p.n) {
        dispatch()
        break
      }
      if (batch.length >= p.batch) dispatch()
      else schedule()
      if (tasks >= maxTasks) await new Promise<void>((r) => (wake = r))
    }
    await waitDrained(jsm, p.stream, RAW_DURABLE, { pollMs: 10 })
    const elapsed = performance.now() - start
    if (failed > 0) throw new Error(`piscina peer: ${failed} messages failed`)
    await messages.close()
    return elapsed
  } finally {
    await pool.destroy()
    await nc.close()
  }
}

/**
 * A BullMQ worker with a no-op processor and `concurrency` jobs at a time, started on a queue
 * already holding `n` jobs (the parent added them in bulk). Clock: from `worker.run()` to the
 * queue holding no waiting, active or delayed job.
 */
async function bullmqDrain(b: Extract<PeerChildOptions, { peer: 'bullmq' }>): Promise<number> {
  const { Queue, Worker } = await import('bullmq')
  const connection = { host: '127.0.0.1', port: b.redisPort, maxRetriesPerRequest: null }
  const queue = new Queue(b.queue, { connection })
  let count = 0
  const worker = new Worker(b.queue, async () => void count++, { connection, concurrency: b.concurrency, autorun: false, removeOnComplete: { count: 0 } })
  try {
    await worker.waitUntilReady()
    const start = performance.now()
    void worker.run()
    for (;;) {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized')
      if (count >= b.n && Object.values(counts).every((c) => c === 0)) break
      await delay(10)
    }
    return performance.now() - start
  } finally {
    await worker.close()
    await queue.close()
  }
}
