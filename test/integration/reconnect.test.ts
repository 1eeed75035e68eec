/**
 * Reconnect as a user sees it: `fn dev` (a real process) is working through a backlog while
 * publishing goes on, and the nats-server restarts on the same port and store. The replica
 * reconnects and resumes on its own; every message ends settled and handled, none lost.
 * This file starts its own server, since it restarts it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { spawnDev, writeDevProject, type DevProcess, type DevProject } from '../helpers/dev-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

let server: NatsServerProcess
let nc: NatsConnection
let js: JetStreamClient
let jsm: JetStreamManager
let dev: DevProcess | undefined
let project: DevProject | undefined

beforeAll(async () => {
  server = await startServer()
  // Like a replica's connection: reconnect for as long as it takes, soon after the server is back.
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true, name: 'jetfn-test' })
  js = jetstream(nc)
  jsm = await jetstreamManager(nc)
})

afterAll(async () => {
  await dev?.[Symbol.asyncDispose]()
  await project?.remove()
  await nc?.close()
  await server?.stop()
})

const TOTAL = 2_000

/** Publishes message `i` until JetStream confirms it; its id makes a retried publish a no-op. */
async function publishOne(subject: string, i: number): Promise<void> {
  for (;;) {
    try {
      await js.publish(subject, JSON.stringify({ i }), { msgID: `m-${i}`, timeout: 2_000 })
      return
    } catch {
      // The server is restarting: the client reconnects by itself; try again a little later.
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

/** Publishes messages `from`..`to - 1`, 50 in flight at a time. */
async function publishRange(subject: string, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 50) {
    const batch: Promise<void>[] = []
    for (let i = start; i < Math.min(start + 50, to); i++) batch.push(publishOne(subject, i))
    await Promise.all(batch)
  }
}

/** The `i` of every output stored in the stream, with how many times each was stored. */
async function outputs(prefix: string): Promise<Map<number, number>> {
  const subject = `${prefix}.out`
  const info = await jsm.streams.info(prefix, { subjects_filter: subject })
  const count = info.state.subjects?.[subject] ?? 0
  const seen = new Map<number, number>()
  if (count === 0) return seen
  const c = await js.consumers.get(prefix, { filter_subjects: [subject] })
  let read = 0
  for await (const m of await c.fetch({ max_messages: count, expires: 5_000 })) {
    const { i } = m.json() as { i: number }
    seen.set(i, (seen.get(i) ?? 0) + 1)
    if (++read === count) break
  }
  return seen
}

it('nats-server restarts mid-load: the replica reconnects and every message ends settled, none lost', async () => {
  const prefix = uniquePrefix()
  const fn = `${prefix}_work`
  project = await writeDevProject({
    prefix,
    config: {
      streams: [{ name: prefix, subjects: [`${prefix}.>`] }],
      pool: { threads: 2 },
      http: { port: 0 },
    },
    functions: {
      'work.ts': `
import { setTimeout as delay } from 'node:timers/promises'
import { defineFunction } from 'jetfn'

export default defineFunction({
  name: '${fn}',
  subject: '${prefix}.in',
  concurrency: 8,
  // Acks lost with the connection come back soon.
  ackWait: '5s',
  async handler(event, ctx) {
    await delay(2)
    ctx.publish('${prefix}.out', { i: (event.data as { i: number }).i, seq: event.seq })
  },
})
`,
    },
  })
  dev = spawnDev(project, { url: server.url, label: 'replica' })
  await dev.waitFor(/fn dev ready/)

  const subject = `${prefix}.in`
  await publishRange(subject, 0, TOTAL / 2)
  // Publishing goes on while the server restarts, and after it is back.
  const during = publishRange(subject, TOTAL / 2, (TOTAL * 3) / 4)
  // Mid-load: the replica has settled some and has a backlog left.
  await expect.poll(async () => (await jsm.consumers.info(prefix, `fn_${fn}`)).ack_floor.stream_seq, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(100)
  const mid = await jsm.consumers.info(prefix, `fn_${fn}`)
  expect(mid.num_pending).toBeGreaterThan(0)

  await server.restart()
  await Promise.all([during, publishRange(subject, (TOTAL * 3) / 4, TOTAL)])
  await dev.waitFor(/reconnected to NATS/, 20_000)
  await dev.waitFor(new RegExp(`pull reset.*"fn":"${fn}".*"reason":"reconnected"`), 5_000)

  const stored = async () => (await jsm.streams.info(prefix, { subjects_filter: subject })).state.subjects?.[subject] ?? 0
  expect(await stored()).toBe(TOTAL)
  await expect
    .poll(async () => {
      const c = await jsm.consumers.info(prefix, `fn_${fn}`)
      return { pending: c.num_pending, ackPending: c.num_ack_pending }
    }, { timeout: 30_000, interval: 250 })
    .toEqual({ pending: 0, ackPending: 0 })
  // Every message was handled: one stored output each (outputs are deduplicated by id).
  const out = await outputs(prefix)
  const missing = Array.from({ length: TOTAL }, (_, i) => i).filter((i) => out.get(i) !== 1)
  expect(missing).toEqual([])
  expect(out.size).toBe(TOTAL)
}, 60_000)
