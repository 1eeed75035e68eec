/**
 * Acks written as one buffer of protocol frames (runtime/nats/ack-frames.ts), on a real
 * nats-server: every message of a group is acked, the last ack's confirmation arrives, subjects
 * with multi-byte characters are framed by their byte length, and without the client's protocol
 * handler (another client version) the same acks go through publish().
 */
import { expect, it } from 'vitest'
import { AckPolicy, type JsMsg } from '@nats-io/jetstream'
import { createInbox, type NatsConnection } from '@nats-io/transport-node'
import { AckFrames } from '../../runtime/nats/ack-frames.ts'
import { connectTo } from '../helpers/connect.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

/** A stream of `n` messages and the ack subjects of its consumer's deliveries, unacked. */
async function delivered(stream: string, n: number): Promise<string[]> {
  await t.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
  await t.jsm.consumers.add(stream, { durable_name: 'c', ack_policy: AckPolicy.Explicit, ack_wait: 60_000_000_000 })
  await Promise.all(Array.from({ length: n }, (_, i) => t.js.publish(`${stream}.in`, JSON.stringify({ i }))))
  const got: string[] = []
  const consumer = await t.js.consumers.get(stream, 'c')
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
  const sub = t.nc.subscribe(inbox, { max: 1 })
  const confirmed = (async () => {
    for await (const _ of sub) return
  })()
  frames.ack(replies.map((reply) => ({ reply })), inbox)
  await confirmed
}

it('acks a group of 300 as frames, the last confirmed once the server applied every one', async () => {
  const stream = uniquePrefix()
  const msgs = await delivered(stream, 300)
  const frames = new AckFrames(t.nc)
  expect(frames.framed).toBe(true)
  await ackConfirmed(frames, msgs)
  const info = await t.jsm.consumers.info(stream, 'c')
  expect(info.num_ack_pending).toBe(0)
  expect(info.ack_floor.stream_seq).toBe(300)
  expect(info.num_redelivered).toBe(0)
})

it('frames subjects with multi-byte characters by their bytes (a stream named ÄÖÜ_ß…)', async () => {
  const stream = `ÄÖÜ_ß_${uniquePrefix()}_名前`
  const msgs = await delivered(stream, 50)
  expect(msgs[0]).toContain('名前')
  await ackConfirmed(new AckFrames(t.nc), msgs)
  const info = await t.jsm.consumers.info(stream, 'c')
  expect(info.num_ack_pending).toBe(0)
  expect(info.ack_floor.stream_seq).toBe(50)
})

it('without the client protocol handler, acks the same group through publish()', async () => {
  const stream = uniquePrefix()
  const msgs = await delivered(stream, 40)
  // What another client version might look like: a connection with publish() and no handler.
  const plain = { publish: t.nc.publish.bind(t.nc), isClosed: () => t.nc.isClosed() } as unknown as NatsConnection
  const frames = new AckFrames(plain)
  expect(frames.framed).toBe(false)
  await ackConfirmed(frames, msgs)
  expect((await t.jsm.consumers.info(stream, 'c')).num_ack_pending).toBe(0)
})

it('on a closed connection, throws as publish() does and writes nothing', async () => {
  const closed = await connectTo(t.server.url)
  const frames = new AckFrames(closed)
  await closed.close()
  expect(() => frames.ack([{ reply: '$JS.ACK.S.c.1.1.1.1.0' }], 'x')).toThrow(/closed/i)
})
