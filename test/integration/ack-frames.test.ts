/**
 * Acks written as one buffer of protocol frames (runtime/nats/ack-frames.ts), on a real
 * nats-server: every message of a group is acked, the last ack's confirmation arrives, subjects
 * with multi-byte characters are framed by their byte length, and without the client's protocol
 * handler (another client version) the same acks go through publish().
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import { createInbox, type NatsConnection } from '@nats-io/transport-node'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { AckFrames } from '../../runtime/nats/ack-frames.ts'
import { connectTo } from '../helpers/connect.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

let server: NatsServerProcess
let nc: NatsConnection
let js: JetStreamClient
let jsm: JetStreamManager

beforeAll(async () => {
  server = await startServer()
  nc = await connectTo(server.url)
  js = jetstream(nc)
  jsm = await jetstreamManager(nc)
})

afterAll(async () => {
  await nc?.close()
  await server?.stop()
})

/** A stream of `n` messages and the ack subjects of its consumer's deliveries, unacked. */
async function delivered(stream: string, n: number): Promise<string[]> {
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
  await jsm.consumers.add(stream, { durable_name: 'c', ack_policy: AckPolicy.Explicit, ack_wait: 60_000_000_000 })
  await Promise.all(Array.from({ length: n }, (_, i) => js.publish(`${stream}.in`, JSON.stringify({ i }))))
  const got: string[] = []
  const consumer = await js.consumers.get(stream, 'c')
  while (got.length < n) {
    const batch = await consumer.fetch({ max_messages: n - got.length, expires: 2_000 })
    // The ack subject: JsMsg's type does not show it (its class has it).
    for await (const m of batch) got.push((m as JsMsg & { reply: string }).reply)
  }
  return got
}

/** Acks `replies` in one group, the last confirmed; resolves once the confirmation came back. */
async function ackConfirmed(frames: AckFrames, replies: string[]): Promise<void> {
  const inbox = createInbox()
  const sub = nc.subscribe(inbox, { max: 1 })
  const confirmed = (async () => {
    for await (const _ of sub) return
  })()
  frames.ack(replies.map((reply) => ({ reply })), inbox)
  await confirmed
}

it('acks a group of 300 as frames, the last confirmed once the server applied every one', async () => {
  const stream = uniquePrefix()
  const msgs = await delivered(stream, 300)
  const frames = new AckFrames(nc)
  expect(frames.framed).toBe(true)
  await ackConfirmed(frames, msgs)
  const info = await jsm.consumers.info(stream, 'c')
  expect(info.num_ack_pending).toBe(0)
  expect(info.ack_floor.stream_seq).toBe(300)
  expect(info.num_redelivered).toBe(0)
})

it('frames subjects with multi-byte characters by their bytes (a stream named ÄÖÜ_ß…)', async () => {
  const stream = `ÄÖÜ_ß_${uniquePrefix()}_名前`
  const msgs = await delivered(stream, 50)
  expect(msgs[0]).toContain('名前')
  await ackConfirmed(new AckFrames(nc), msgs)
  const info = await jsm.consumers.info(stream, 'c')
  expect(info.num_ack_pending).toBe(0)
  expect(info.ack_floor.stream_seq).toBe(50)
})

it('without the client protocol handler, acks the same group through publish()', async () => {
  const stream = uniquePrefix()
  const msgs = await delivered(stream, 40)
  // What another client version might look like: a connection with publish() and no handler.
  const plain = { publish: nc.publish.bind(nc), isClosed: () => nc.isClosed() } as unknown as NatsConnection
  const frames = new AckFrames(plain)
  expect(frames.framed).toBe(false)
  await ackConfirmed(frames, msgs)
  expect((await jsm.consumers.info(stream, 'c')).num_ack_pending).toBe(0)
})

it('on a closed connection, throws as publish() does and writes nothing', async () => {
  const closed = await connectTo(server.url)
  const frames = new AckFrames(closed)
  await closed.close()
  expect(() => frames.ack([{ reply: '$JS.ACK.S.c.1.1.1.1.0' }], 'x')).toThrow(/closed/i)
})
