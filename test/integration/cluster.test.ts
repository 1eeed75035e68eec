/**
 * Past one server: a replica on a 3-node cluster with an R3 stream rides through losing the node
 * it is connected to. Every message is handled and acked; none is lost.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { Replica } from '../../runtime/replica/replica.ts'
import { connectTo } from '../helpers/connect.ts'
import { startCluster, uniquePrefix, type TestCluster } from '../helpers/nats-server.ts'
import { deadLetters, deployFixture, testLog } from '../helpers/runtime.ts'
import { resolveConfig } from '../../runtime/config/config-schema.ts'

let cluster: TestCluster
let nc: NatsConnection
let replica: Replica | undefined

beforeAll(async () => {
  cluster = await startCluster()
  nc = await connectTo(cluster.urls)
})

afterAll(async () => {
  await replica?.stop(1_000)
  await nc?.close()
  await cluster?.stop()
})

it('a replica on a 3-node cluster keeps settling every message when its server dies', async () => {
  const prefix = uniquePrefix()
  // The replica knows every node; the stream (and so the DLQ, see Replica.start) has 3 replicas.
  const config = resolveConfig(
    { nats: { servers: cluster.urls }, pool: { threads: 2 }, streams: [{ name: prefix, subjects: [`${prefix}.>`], replicas: 3 }] },
    { file: 'test.config.ts', env: {} },
  )
  replica = new Replica({ config, log: testLog })
  await replica.start()
  const fn = await deployFixture(replica, 'publish-then-fail-once', prefix, { concurrency: 16, ackWaitMs: 5_000, retry: { maxDeliver: 10, backoffMs: [500, 1_000], jitter: 0 } })

  const js = jetstream(nc)
  // Made before a node dies: its first request must not meet the election.
  const jsm = await jetstreamManager(nc)
  const total = 600
  const out = `${prefix}.out.all`
  const publish = async (i: number): Promise<void> => {
    // During the election after a node dies a publish can fail (no responders until the stream
    // has a new leader, several seconds on a loaded machine): retry, deduplicated by its id.
    const deadline = Date.now() + 30_000
    for (;;) {
      try {
        await js.publish(fn.subject, JSON.stringify({ out, i }), { msgID: `m-${i}`, timeout: 2_000 })
        return
      } catch (err) {
        if (Date.now() > deadline) throw err
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }
  for (let i = 0; i < total / 2; i++) await publish(i)

  // Kill the node the replica's connection is on, while messages are being handled.
  const connectedTo = replica.nc.getServer()
  const victim = cluster.servers.find((s) => connectedTo.endsWith(`:${s.port}`))!
  expect(victim).toBeDefined()
  victim.kill('SIGKILL')
  for (let i = total / 2; i < total; i++) await publish(i)

  await expect
    .poll(async () => {
      try {
        const info = await jsm.consumers.info(prefix, `fn_${fn.name}`)
        return info.num_pending + info.num_ack_pending
      } catch {
        // No consumer leader yet after the node died.
        return -1
      }
    }, { timeout: 90_000, interval: 500 })
    .toBe(0)
  // Each message published its two outputs once (deduplicated across redeliveries), or, if its
  // retries ran out while the cluster elected new leaders, it is in the DLQ: nothing is lost.
  const settledCount = async (): Promise<number> => {
    try {
      const outputs = (await jsm.streams.info(prefix, { subjects_filter: out })).state.subjects?.[out] ?? 0
      return outputs / 2 + (await deadLetters(jsm, fn.name)).length
    } catch {
      // A stream leader is being elected.
      return -1
    }
  }
  await expect.poll(settledCount, { timeout: 30_000 }).toBe(total)
  expect(replica.nc.getServer()).not.toBe(connectedTo)
}, 180_000)
