/**
 * A dead letter the DLQ will not take (the stream missing, or full with `discard: new`): the
 * original is never terminated and never given up by the server. It waits, nak'd with a capped
 * backoff, counted, and reported by `/readyz`, until the DLQ takes it. Own server: these tests
 * delete and reshape `FN_DLQ`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DiscardPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { functionStatuses } from '../../runtime/deploy/function-status.ts'
import type { Registry } from '../../runtime/deploy/registry.ts'
import { consumerName } from '../../runtime/nats/ensure-consumer.ts'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { ReplicaMetrics } from '../../runtime/observe/metrics.ts'
import { Replica } from '../../runtime/replica/replica.ts'
import { connectTo } from '../helpers/connect.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'
import { deadLetters, fixture, settled, testConfig, testLog } from '../helpers/runtime.ts'

let server: NatsServerProcess
let nc: NatsConnection
let js: JetStreamClient
let jsm: JetStreamManager
const advisories: string[] = []
const replicas: Replica[] = []

beforeAll(async () => {
  server = await startServer()
  nc = await connectTo(server.url)
  js = jetstream(nc)
  jsm = await jetstreamManager(nc)
  nc.subscribe('$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>', { callback: (_e, m) => void advisories.push(m.subject) })
})

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop(1_000)))
  await nc?.close()
  await server?.stop()
})

const DLQ = { name: 'FN_DLQ', subjects: ['fn.dlq.>'] }

/** A replica with metrics, running the non-retryable fixture with one delivery allowed. */
async function setup() {
  const prefix = uniquePrefix()
  const metrics = new ReplicaMetrics({ log: testLog, processMetrics: false })
  const replica = new Replica({ config: testConfig(server.url, { streams: [{ name: prefix, subjects: [`${prefix}.>`] }] }), log: testLog, observers: [metrics] })
  await replica.start()
  metrics.attach(replica)
  replicas.push(replica)
  // maxDeliver 1: the server-side limit used to be 2, so the second refusal lost the message.
  const fn = await fixture('non-retryable', prefix, { retry: { maxDeliver: 1, backoffMs: [200], jitter: 0 } })
  await replica.deploy(fn)
  return { prefix, fn, replica, metrics }
}

/** What `fn ls --json` shows of a function (only the registry's list is read, so a stand-in lists it). */
async function lsStatus(fn: Awaited<ReturnType<typeof fixture>>) {
  const manifest = { name: fn.name, version: fn.version, subject: fn.subject, stream: fn.stream, deployedAt: '', deployedBy: { user: 't', host: 't' } }
  const registry = { list: async () => [manifest] } as unknown as Registry
  const [status] = await functionStatuses({ registry, jsm, dlqStream: 'FN_DLQ' })
  return status!
}

/** How many times the consumer has delivered messages (each redelivery counts). */
async function deliveries(stream: string, fn: string): Promise<number> {
  return (await jsm.consumers.info(stream, consumerName(fn))).delivered.consumer_seq
}

async function metric(metrics: ReplicaMetrics, name: string, fn: string): Promise<number> {
  const line = (await metrics.render()).split('\n').find((l) => l.startsWith(`${name}{fn="${fn}"}`))
  return line ? Number(line.split(' ').at(-1)) : 0
}

describe('a dead letter the DLQ will not take', () => {
  it.each([
    [
      'the DLQ stream is missing',
      async () => void (await jsm.streams.delete('FN_DLQ')),
      async () => void (await jsm.streams.add(DLQ)),
      /FN_DLQ does not exist/,
    ],
    [
      'the DLQ stream is full (discard new)',
      async () => {
        await jsm.streams.update('FN_DLQ', { ...DLQ, max_msgs: 1, discard: DiscardPolicy.New })
        if ((await jsm.streams.info('FN_DLQ')).state.messages === 0) await js.publish('fn.dlq.filler', 'filler')
      },
      async () => void (await jsm.streams.update('FN_DLQ', { ...DLQ, max_msgs: -1 })),
      /FN_DLQ is full \(max_msgs 1 reached, discard new\)/,
    ],
  ])('%s: the original waits unterminated, reported, until the DLQ takes it', async (_what, breakDlq, repair, lsProblem) => {
    const { prefix, fn, replica, metrics } = await setup()
    await breakDlq()
    const ack = await js.publish(fn.subject, '{"order":1}')
    // Refused again and again, past the function's maxDeliver and the old server-side limit.
    await expect.poll(() => deliveries(prefix, fn.name), { timeout: 20_000 }).toBeGreaterThanOrEqual(3)
    expect(replica.readiness()).toEqual([expect.stringMatching(new RegExp(`^dead letters of ${fn.name} cannot be stored in FN_DLQ: `))])
    expect(await metric(metrics, 'jetfn_dlq_failing', fn.name)).toBe(1)
    expect(await metric(metrics, 'jetfn_dlq_blocked_total', fn.name)).toBeGreaterThanOrEqual(2)
    expect((await lsStatus(fn)).dlqProblem).toMatch(lsProblem)
    expect(await settled(jsm, fn)).toBe(false)

    await repair()
    await expect.poll(async () => (await deadLetters(jsm, fn.name)).length, { timeout: 15_000 }).toBe(1)
    const [dl] = await deadLetters(jsm, fn.name)
    // Stored as it failed: the handler's own error, not a later delivery's count.
    expect(dl!.header.get('Fn-Error-Kind')).toBe('non-retryable')
    expect(dl!.header.get('Fn-Error')).toBe('NonRetryableError: this can never succeed')
    expect(dl!.header.get('Fn-Source-Seq')).toBe(String(ack.seq))
    expect(dl!.string()).toBe('{"order":1}')
    await expect.poll(() => settled(jsm, fn), { timeout: 10_000 }).toBe(true)
    expect(replica.readiness()).toEqual([])
    expect((await lsStatus(fn)).dlqProblem).toBeNull()
    expect(await metric(metrics, 'jetfn_dlq_failing', fn.name)).toBe(0)
    expect(advisories).toEqual([])
  })
})
