/**
 * DESIGN's settle table, row by row, on a real nats-server: what a user sees in JetStream after
 * each kind of handler result.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { headers, type NatsConnection } from '@nats-io/transport-node'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import type { Replica } from '../../runtime/replica/replica.ts'
import { connectTo } from '../helpers/connect.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'
import { consumerState, deadLetters, deployFixture, nextBySubject, settled, startReplica } from '../helpers/runtime.ts'

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

async function setup(fixtureName: string, overrides: Parameters<typeof deployFixture>[3] = {}) {
  const prefix = uniquePrefix()
  const replica = await startReplica(server.url, prefix)
  replicas.push(replica)
  const fn = await deployFixture(replica, fixtureName, prefix, overrides)
  return { prefix, fn }
}

const json = (v: unknown) => JSON.stringify(v)

describe('settling by handler result', () => {
  it('resolves: the message is acked', async () => {
    const { fn } = await setup('ok')
    const acks = await Promise.all([1, 2, 3].map((i) => js.publish(fn.subject, json({ i }))))
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000 }).toBe(true)
    const state = await consumerState(jsm, fn)
    expect(state.ackFloor).toBe(acks.at(-1)!.seq)
    expect(state.redelivered).toBe(0)
    expect(await deadLetters(jsm, fn.name)).toHaveLength(0)
  })

  it('throws: redelivered after each backoff delay, then dead-lettered with kind error once maxDeliver is used', async () => {
    const { fn } = await setup('throws', { retry: { maxDeliver: 3, backoffMs: [300, 600], jitter: 0 } })
    const h = headers()
    h.set('X-Trace', 'abc')
    h.append('X-Multi', 'one')
    h.append('X-Multi', 'two')
    const ack = await js.publish(fn.subject, json({ hello: 'world' }), { headers: h, msgID: 'orig-1' })
    await expect.poll(async () => (await deadLetters(jsm, fn.name)).length, { timeout: 15_000 }).toBe(1)
    const [dl] = await deadLetters(jsm, fn.name)
    const original = await jsm.streams.getMessage(fn.stream, { seq: ack.seq })
    expect(dl!.string()).toBe(json({ hello: 'world' }))
    expect(dl!.subject).toBe(`fn.dlq.${fn.name}`)
    const dh = dl!.header
    expect(dh.get('Fn-Function')).toBe(fn.name)
    expect(dh.get('Fn-Version')).toBe(fn.version)
    expect(dh.get('Fn-Error')).toBe('Error: boom on delivery 3')
    expect(dh.get('Fn-Error-Kind')).toBe('error')
    expect(dh.get('Fn-Deliveries')).toBe('3')
    expect(dh.get('Fn-Source-Stream')).toBe(fn.stream)
    expect(dh.get('Fn-Source-Seq')).toBe(String(ack.seq))
    expect(dh.get('Fn-Source-Subject')).toBe(fn.subject)
    expect(dh.get('Nats-Msg-Id')).toBe(`dlq:${fn.name}:${fn.stream}:${ack.seq}`)
    expect(dh.get('Fn-Original-Msg-Id')).toBe('orig-1')
    expect(dh.get('X-Trace')).toBe('abc')
    expect(dh.values('X-Multi')).toEqual(['one', 'two'])
    // Three deliveries separated by the 300 ms and 600 ms backoff: at least 900 ms between the
    // publish and the dead letter, and not a full ack_wait (30 s) more.
    const failedAt = Date.parse(dh.get('Fn-Failed-At'))
    const elapsed = failedAt - original!.time.getTime()
    expect(elapsed).toBeGreaterThanOrEqual(900)
    expect(elapsed).toBeLessThan(5_000)
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000 }).toBe(true)
  })

  it('throws RetryAfterError(ms): nak(ms), then runs again', async () => {
    const { prefix, fn } = await setup('retry-after')
    const out = `${prefix}.out.retry`
    const ack = await js.publish(fn.subject, json({ out }))
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000 }).toBe(true)
    const output = await jsm.streams.getMessage(fn.stream, { last_by_subj: out })
    const body = output!.json<{ deliveries: number; at: number }>()
    const source = await jsm.streams.getMessage(fn.stream, { seq: ack.seq })
    expect(body.deliveries).toBe(2)
    expect(body.at - source!.time.getTime()).toBeGreaterThanOrEqual(400)
    expect(await deadLetters(jsm, fn.name)).toHaveLength(0)
  })

  it('throws NonRetryableError: dead-lettered at once', async () => {
    const { fn } = await setup('non-retryable')
    const ack = await js.publish(fn.subject, json({ a: 1 }))
    await expect.poll(async () => (await deadLetters(jsm, fn.name)).length, { timeout: 10_000 }).toBe(1)
    const [dl] = await deadLetters(jsm, fn.name)
    expect(dl!.header.get('Fn-Error-Kind')).toBe('non-retryable')
    expect(dl!.header.get('Fn-Error')).toBe('NonRetryableError: this can never succeed')
    expect(dl!.header.get('Fn-Deliveries')).toBe('1')
    expect(dl!.header.get('Fn-Source-Seq')).toBe(String(ack.seq))
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000 }).toBe(true)
  })

  it('fails its schema: dead-lettered at once with the failing field', async () => {
    const { fn } = await setup('schema')
    await js.publish(fn.subject, json({ orderId: 'o-1', qty: 2 }))
    await js.publish(fn.subject, json({ orderId: 'o-2', qty: -1 }))
    await expect.poll(async () => (await deadLetters(jsm, fn.name)).length, { timeout: 10_000 }).toBe(1)
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000 }).toBe(true)
    const [dl] = await deadLetters(jsm, fn.name)
    expect(dl!.header.get('Fn-Error-Kind')).toBe('schema')
    expect(dl!.header.get('Fn-Error')).toContain("'qty'")
    expect(dl!.json()).toEqual({ orderId: 'o-2', qty: -1 })
  })

  it('a redelivery after publishing publishes nothing twice', async () => {
    const { prefix, fn } = await setup('publish-then-fail-once', { retry: { backoffMs: [100], jitter: 0 } })
    const out = `${prefix}.out.pub`
    const ack = await js.publish(fn.subject, json({ out }))
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000 }).toBe(true)
    const info = await jsm.streams.info(fn.stream, { subjects_filter: out })
    expect(info.state.subjects?.[out]).toBe(2)
    const first = await jsm.streams.getMessage(fn.stream, nextBySubject(out, 1))
    expect(first!.json()).toEqual({ n: 1, seq: ack.seq })
    expect(first!.header.get('Nats-Msg-Id')).toBe(`${fn.name}:${fn.stream}:${ack.seq}:0`)
    const second = await jsm.streams.getMessage(fn.stream, nextBySubject(out, first!.seq + 1))
    expect(second!.header.get('X-Kind')).toBe('second')
  })
})

describe('bad input', () => {
  it('invalid JSON, invalid UTF-8 and an empty payload are dead-lettered as decode errors', async () => {
    const { fn } = await setup('ok')
    await js.publish(fn.subject, '{"unterminated": ')
    await js.publish(fn.subject, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))
    await js.publish(fn.subject, new Uint8Array(0))
    await js.publish(fn.subject, json({ fine: true }))
    await expect.poll(async () => (await deadLetters(jsm, fn.name)).length, { timeout: 10_000 }).toBe(3)
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000 }).toBe(true)
    const dls = await deadLetters(jsm, fn.name)
    expect(dls.map((d) => d.header.get('Fn-Error-Kind'))).toEqual(['decode', 'decode', 'decode'])
    const errors = dls.map((d) => d.header.get('Fn-Error')).sort()
    expect(errors[0]).toMatch(/DecodeError: payload is empty/)
    expect(errors[1]).toMatch(/DecodeError: payload is not valid JSON/)
    expect(errors[2]).toMatch(/DecodeError: payload is not valid UTF-8/)
    // The original bytes are kept exactly, invalid UTF-8 included.
    const bytes = dls.map((d) => [...d.data].join(','))
    expect(bytes).toContain([0x7b, 0xff, 0xfe, 0x7d].join(','))
  })

  it('a 1 MiB payload and unexpected headers reach the handler intact', async () => {
    const { fn } = await setup('echo')
    const big = new Uint8Array(1024 * 1024 - 200).fill(0x61)
    const h = headers()
    h.set('X-Weird-Header', 'value with spaces; and=signs')
    h.set('Nats-Expected-Stream', fn.stream)
    const ack = await js.publish(fn.subject, big, { headers: h })
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000 }).toBe(true)
    // The output is what the handler saw; wait for it rather than trust the consumer alone.
    let echoed: Awaited<ReturnType<typeof jsm.streams.getMessage>> = null
    await expect
      .poll(async () => (echoed = await jsm.streams.getMessage(fn.stream, { last_by_subj: `${fn.subject}.out` }).catch(() => null)) !== null, {
        timeout: 10_000,
      })
      .toBe(true)
    const body = echoed!.json<{ bytes: number; headers: Record<string, string[]>; seq: number; subject: string; stream: string; deliveries: number }>()
    expect(body).toMatchObject({ bytes: big.length, seq: ack.seq, subject: fn.subject, stream: fn.stream, deliveries: 1 })
    expect(body.headers['X-Weird-Header']).toEqual(['value with spaces; and=signs'])
    expect(await deadLetters(jsm, fn.name)).toHaveLength(0)
  })
})
