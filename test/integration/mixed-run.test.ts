/**
 * 10,000 messages over four functions at once: every message ends acked or in the DLQ, none is
 * lost, none is left pending, and the DLQ holds exactly what the mix implies.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import type { Replica } from '../../runtime/replica/replica.ts'
import { connectTo } from '../helpers/connect.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'
import { consumerState, deadLetters, deployFixture, startReplica } from '../helpers/runtime.ts'

let server: NatsServerProcess
let nc: NatsConnection
let jsm: JetStreamManager
let replica: Replica | undefined

beforeAll(async () => {
  server = await startServer()
  nc = await connectTo(server.url)
  jsm = await jetstreamManager(nc)
})

afterAll(async () => {
  await replica?.stop(1_000)
  await nc?.close()
  await server?.stop()
})

it('10,000 messages over ok / fails-twice / throws / non-retryable: all acked or dead-lettered, none lost', async () => {
  const prefix = uniquePrefix()
  replica = await startReplica(server.url, prefix)
  const retry = { maxDeliver: 3, backoffMs: [20, 40], jitter: 0.2 }
  const fns = await Promise.all(
    ['ok', 'fails-twice', 'throws', 'non-retryable'].map((name) => deployFixture(replica!, name, prefix, { concurrency: 64, retry })),
  )
  const perFunction = 2_500
  // Core publishes with a flush every 1,000 are ~4x faster than js.publish (NATS-NOTES); the
  // stream count is checked afterwards, so nothing goes unnoticed.
  for (let i = 0; i < perFunction; i++) {
    for (const fn of fns) nc.publish(fn.subject, JSON.stringify({ i }))
    if (i % 250 === 0) await nc.flush()
  }
  await nc.flush()
  await expect.poll(async () => (await jsm.streams.info(prefix)).state.messages, { timeout: 10_000 }).toBe(perFunction * 4)

  for (const fn of fns) {
    await expect
      .poll(async () => {
        const s = await consumerState(jsm, fn)
        return s.pending + s.ackPending
      }, { timeout: 120_000, interval: 250 })
      .toBe(0)
  }
  const [ok, failsTwice, throws, nonRetryable] = fns as [typeof fns[0], typeof fns[0], typeof fns[0], typeof fns[0]]
  expect(await dlqCount(ok.name)).toBe(0)
  expect(await dlqCount(failsTwice.name)).toBe(0)
  expect(await dlqCount(throws.name)).toBe(perFunction)
  expect(await dlqCount(nonRetryable.name)).toBe(perFunction)
  // Each dead letter names its source, and no source message is dead-lettered twice.
  const sources = new Set((await deadLetters(jsm, throws.name)).map((m) => m.header.get('Fn-Source-Seq')))
  expect(sources.size).toBe(perFunction)
  const kinds = new Set((await deadLetters(jsm, throws.name)).map((m) => `${m.header.get('Fn-Error-Kind')}/${m.header.get('Fn-Deliveries')}`))
  expect([...kinds]).toEqual(['error/3'])
  for (const fn of fns) {
    const s = await consumerState(jsm, fn)
    expect(s.delivered).toBe(s.ackFloor)
  }
}, 180_000)

async function dlqCount(fn: string): Promise<number> {
  const subject = `fn.dlq.${fn}`
  const info = await jsm.streams.info('FN_DLQ', { subjects_filter: subject })
  return info.state.subjects?.[subject] ?? 0
}
