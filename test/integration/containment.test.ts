/**
 * Containment, as a user sees it in JetStream: a handler that hangs, blocks its thread, kills its
 * thread or runs out of memory fails only its own message (timeout or crash, then the DLQ), other
 * functions on the same replica keep settling, long CPU-bound work is kept alive by heartbeats,
 * and a replica never holds more than concurrency + prefetch messages of a function.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { RunnableFunction } from '../../runtime/consumer/function-consumer.ts'
import { consumerName } from '../../runtime/nats/ensure-consumer.ts'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import type { Replica } from '../../runtime/replica/replica.ts'
import { holdLimits } from '../../runtime/consumer/flow-plan.ts'
import { connectTo } from '../helpers/connect.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'
import { consumerState, deadLetters, deployFixture, fixture, settled, startReplica } from '../helpers/runtime.ts'

let server: NatsServerProcess
let nc: NatsConnection
let js: JetStreamClient
let jsm: JetStreamManager
const replicas: Replica[] = []

beforeAll(async () => {
  server = await startServer()
  nc = await connectTo(server.url)
  js = jetstream(nc)
  jsm = await jetstreamManager(nc)
})

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop(1_000)))
  await nc?.close()
  await server?.stop()
})

async function replicaFor(prefix: string, input: Record<string, unknown> = {}): Promise<Replica> {
  const replica = await startReplica(server.url, prefix, input)
  replicas.push(replica)
  return replica
}

const json = (v: unknown) => JSON.stringify(v)

/** Publishes `n` messages with core publishes and waits until the stream holds them all. */
async function publishMany(fn: RunnableFunction, n: number, data: (i: number) => unknown): Promise<void> {
  const before = (await jsm.streams.info(fn.stream)).state.messages
  for (let i = 0; i < n; i++) {
    nc.publish(fn.subject, json(data(i)))
    if (i % 250 === 249) await nc.flush()
  }
  await nc.flush()
  await expect.poll(async () => (await jsm.streams.info(fn.stream)).state.messages, { timeout: 5_000 }).toBe(before + n)
}

/** The last sequence of the function's subject in its stream. */
async function lastSeq(fn: RunnableFunction): Promise<number> {
  return (await jsm.streams.getMessage(fn.stream, { last_by_subj: fn.subject }))!.seq
}

/** Every message of `fn` acked: nothing pending, the ack floor at its last message, no dead letter. */
async function expectAllAcked(fn: RunnableFunction, timeout = 15_000): Promise<void> {
  await expect.poll(() => settled(jsm, fn), { timeout, interval: 50 }).toBe(true)
  const state = await consumerState(jsm, fn)
  expect(state.ackFloor).toBe(await lastSeq(fn))
  expect(await deadLetters(jsm, fn.name)).toHaveLength(0)
}

describe('a handler that hangs', () => {
  it('is terminated at timeout + grace, retried, dead-lettered as timeout; another function keeps settling', async () => {
    const prefix = uniquePrefix()
    const replica = await replicaFor(prefix)
    const hangs = await deployFixture(replica, 'hangs', prefix, {
      timeoutMs: 300,
      timeoutGraceMs: 200,
      retry: { maxDeliver: 2, backoffMs: [50], jitter: 0 },
    })
    const ok = await deployFixture(replica, 'ok', prefix)

    const hangAck = await js.publish(hangs.subject, json({ forever: true }))
    await publishMany(ok, 200, (i) => ({ i }))

    await expectAllAcked(ok, 10_000)
    await expect.poll(async () => (await deadLetters(jsm, hangs.name)).length, { timeout: 10_000, interval: 50 }).toBe(1)
    const [dl] = await deadLetters(jsm, hangs.name)
    expect(dl!.header.get('Fn-Error-Kind')).toBe('timeout')
    expect(dl!.header.get('Fn-Deliveries')).toBe('2')
    expect(dl!.header.get('Fn-Source-Seq')).toBe(String(hangAck.seq))
    expect(dl!.header.get('Fn-Error')).toMatch(/^TimeoutError: timed out after 300 ms/)
    // Two tries of 500 ms each (timeout + grace) and a 50 ms backoff between them.
    const source = await jsm.streams.getMessage(hangs.stream, { seq: hangAck.seq })
    expect(Date.parse(dl!.header.get('Fn-Failed-At')) - source!.time.getTime()).toBeGreaterThanOrEqual(1_000)
    await expect.poll(() => settled(jsm, hangs), { timeout: 5_000 }).toBe(true)

    // Each ok message was delivered once: any that shared a terminated thread were re-run in place,
    // without blame, not handed back to the server.
    const info = await jsm.consumers.info(ok.stream, consumerName(ok.name))
    expect(info.delivered.consumer_seq).toBe(200)
  })
})

describe('a handler that honours ctx.signal', () => {
  it('is aborted at its own timeout, while the rest of its batch finishes in time and is acked', async () => {
    const prefix = uniquePrefix()
    const replica = await replicaFor(prefix, { pool: { threads: 1 } })
    // A grace far longer than the test: a dead letter before it proves the signal ended the
    // handler, not the watchdog terminating its thread.
    const fn = await fixture('aborts', prefix, { concurrency: 32, timeoutMs: 400, timeoutGraceMs: 30_000, retry: { maxDeliver: 1, backoffMs: [50], jitter: 0 } })
    await publishMany(fn, 10, (i) => ({ ms: 20 + i * 30 }))
    const longAck = await js.publish(fn.subject, json({ ms: 60_000 }))
    await publishMany(fn, 10, (i) => ({ ms: 20 + i * 30 }))
    await replica.deploy(fn)

    await expect.poll(async () => (await deadLetters(jsm, fn.name)).length, { timeout: 10_000, interval: 50 }).toBe(1)
    const [dl] = await deadLetters(jsm, fn.name)
    expect(dl!.header.get('Fn-Error-Kind')).toBe('timeout')
    expect(dl!.header.get('Fn-Source-Seq')).toBe(String(longAck.seq))
    expect(dl!.header.get('Fn-Error')).toMatch(/^TimeoutError: timed out after 400 ms/)
    // The 20 others (20 to 290 ms each) all finished within their own 400 ms.
    await expect.poll(() => settled(jsm, fn), { timeout: 5_000 }).toBe(true)
    const info = await jsm.consumers.info(fn.stream, consumerName(fn.name))
    expect(info.delivered.consumer_seq).toBe(21)
    expect(info.num_redelivered).toBe(0)
    expect(await deadLetters(jsm, fn.name)).toHaveLength(1)
  })
})

describe('a handler that blocks its thread', () => {
  it('for 3 x ackWait is kept alive by heartbeats: acked, delivered once', async () => {
    const prefix = uniquePrefix()
    const replica = await replicaFor(prefix)
    const fn = await deployFixture(replica, 'cpu-block', prefix, { ackWaitMs: 1_000, timeoutMs: 10_000 })
    const started = Date.now()
    const ack = await js.publish(fn.subject, json({ ms: 3_000 }))
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000, interval: 100 }).toBe(true)
    // It did run for its 3 s: settled is not trivially true.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_000)
    const state = await consumerState(jsm, fn)
    expect(state.redelivered).toBe(0)
    expect(state.ackFloor).toBe(ack.seq)
    expect(state.delivered).toBe(ack.seq)
    // One delivery only: ack_wait never expired while the thread was blocked.
    const info = await jsm.consumers.info(fn.stream, consumerName(fn.name))
    expect(info.delivered.consumer_seq).toBe(1)
    expect(await deadLetters(jsm, fn.name)).toHaveLength(0)
  })
})

describe('a handler that kills its thread', () => {
  it.each([
    { fixture: 'exits', error: /worker exited with code: 1/ },
    { fixture: 'timer-throw', error: /thrown from a timer/ },
    { fixture: 'oom', error: /reaching memory limit/ },
  ])('$fixture: its message is dead-lettered as crash, the rest succeed, the replica still serves', async ({ fixture, error }) => {
    const prefix = uniquePrefix()
    const replica = await replicaFor(prefix, { pool: { threads: 2, maxOldGenerationSizeMb: 64 } })
    const crasher = await deployFixture(replica, fixture, prefix, { retry: { maxDeliver: 1, backoffMs: [50], jitter: 0 } })
    const ok = await deployFixture(replica, 'ok', prefix)

    const crashAck = await js.publish(crasher.subject, json({ die: true }))
    await publishMany(ok, 100, (i) => ({ i }))

    await expect.poll(async () => (await deadLetters(jsm, crasher.name)).length, { timeout: 15_000, interval: 50 }).toBe(1)
    const [dl] = await deadLetters(jsm, crasher.name)
    expect(dl!.header.get('Fn-Error-Kind')).toBe('crash')
    expect(dl!.header.get('Fn-Deliveries')).toBe('1')
    expect(dl!.header.get('Fn-Source-Seq')).toBe(String(crashAck.seq))
    expect(dl!.header.get('Fn-Error')).toMatch(/worker thread died/)
    expect(dl!.header.get('Fn-Error')).toMatch(error)
    await expect.poll(() => settled(jsm, crasher), { timeout: 5_000 }).toBe(true)
    await expectAllAcked(ok)

    // The pool replaced the thread: the replica still runs handlers.
    const after = await js.publish(ok.subject, json({ after: true }))
    await expect.poll(async () => (await consumerState(jsm, ok)).ackFloor, { timeout: 5_000, interval: 50 }).toBe(after.seq)
  })
})

describe('a crash that cannot be pinned at once', () => {
  it('a throw from a timer after an await, beside 30 messages on the same thread: only its message is dead-lettered, the rest are acked once', async () => {
    const prefix = uniquePrefix()
    const replica = await replicaFor(prefix, { pool: { threads: 1 } })
    const fn = await fixture('crash-after-await', prefix, { concurrency: 64, retry: { maxDeliver: 1, backoffMs: [50], jitter: 0 } })
    await publishMany(fn, 15, (i) => ({ i }))
    const crashAck = await js.publish(fn.subject, json({ die: true }))
    await publishMany(fn, 15, (i) => ({ i: 15 + i }))
    await replica.deploy(fn)

    await expect.poll(async () => (await deadLetters(jsm, fn.name)).length, { timeout: 15_000, interval: 50 }).toBe(1)
    const [dl] = await deadLetters(jsm, fn.name)
    expect(dl!.header.get('Fn-Error-Kind')).toBe('crash')
    expect(dl!.header.get('Fn-Source-Seq')).toBe(String(crashAck.seq))
    expect(dl!.header.get('Fn-Deliveries')).toBe('1')
    expect(dl!.header.get('Fn-Error')).toMatch(/thrown after an await/)
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000 }).toBe(true)
    // The 30 innocent messages ran again on the new thread without a delivery counted against them.
    const info = await jsm.consumers.info(fn.stream, consumerName(fn.name))
    expect(info.num_redelivered).toBe(0)
    expect(info.delivered.consumer_seq).toBe(31)
    expect(await deadLetters(jsm, fn.name)).toHaveLength(1)
  })
})

describe('backpressure', () => {
  it('with 1,000 messages pending and concurrency 4, at most 4 + a prefetch sized to its pace are ever unacked', async () => {
    const prefix = uniquePrefix()
    const replica = await replicaFor(prefix)
    const fn = await fixture('slow', prefix, { concurrency: 4 })
    await publishMany(fn, 1_000, () => ({ ms: 5 }))
    await replica.deploy(fn)

    const samples: number[] = []
    await expect
      .poll(async () => {
        const s = await consumerState(jsm, fn)
        samples.push(s.ackPending)
        return s.pending + s.ackPending
      }, { timeout: 30_000, interval: 10 })
      .toBe(0)
    expect(samples.length).toBeGreaterThan(10)
    expect(Math.max(...samples)).toBeGreaterThan(0)
    // Its handler takes at least 5 ms: no more than the prefetch of a 5 ms function (4 + 8).
    expect(Math.max(...samples)).toBeLessThanOrEqual(holdLimits(4, { meanMs: 5, meanBytes: 0 }).limit)
    await expectAllAcked(fn, 1_000)
    expect((await consumerState(jsm, fn)).redelivered).toBe(0)
  })
})
