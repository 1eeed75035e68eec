/**
 * A replica killed under load, as a user sees it: `fn dev` (a real process) gets SIGKILL in the
 * middle of a backlog, a second one is started, and every message ends acked; the only messages
 * run twice are ones the first replica held at the kill (at most concurrency + prefetch, the
 * prefetch sized to the function's pace).
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { holdLimits } from '../../runtime/consumer/flow-plan.ts'
import { connectTo } from '../helpers/connect.ts'
import { spawnDev, writeDevProject, type DevProcess, type DevProject } from '../helpers/dev-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

let server: NatsServerProcess
let nc: NatsConnection
let js: JetStreamClient
let jsm: JetStreamManager
const processes: DevProcess[] = []
let project: DevProject | undefined
let sub: Subscription | undefined

beforeAll(async () => {
  server = await startServer()
  nc = await connectTo(server.url)
  js = jetstream(nc)
  jsm = await jetstreamManager(nc)
})

afterAll(async () => {
  await Promise.all(processes.map((p) => p[Symbol.asyncDispose]()))
  sub?.unsubscribe()
  await project?.remove()
  await nc?.close()
  await server?.stop()
})

const TOTAL = 2_000
const CONCURRENCY = 8
// FunctionConsumer: what runs plus a prefetch sized to the function's pace; its handler takes at
// least 2 ms, so the prefetch is at most that of a 2 ms function (flow-plan.ts).
const HELD_AT_MOST = holdLimits(CONCURRENCY, { meanMs: 2, meanBytes: 0 }).limit

interface Output {
  i: number
  deliveries: number
}

it('SIGKILL of a replica mid-load: a second replica finishes the work, none lost, few run twice', async () => {
  const prefix = uniquePrefix()
  const fn = `${prefix}_work`
  const subject = `${prefix}.in`
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
  subject: '${subject}',
  concurrency: ${CONCURRENCY},
  // What the killed replica held comes back to the next one this soon.
  ackWait: '2s',
  async handler(event, ctx) {
    await delay(2)
    ctx.publish('${prefix}.out', { i: (event.data as { i: number }).i, deliveries: event.deliveries })
  },
})
`,
    },
  })

  // Every run of the handler, as published: the stream keeps one output per message (outputs are
  // deduplicated by id), but a plain subscriber sees each publish, reruns included.
  const runs: Output[] = []
  const subErrors: Error[] = []
  sub = nc.subscribe(`${prefix}.out`, {
    callback: (err, m) => {
      if (err) subErrors.push(err)
      else runs.push(m.json() as Output)
    },
  })
  await nc.flush()

  const consumer = () => jsm.consumers.info(prefix, `fn_${fn}`)
  const a = spawnDev(project, { url: server.url, label: 'A' })
  processes.push(a)
  await a.waitFor(/fn dev ready/)
  // The backlog is published while A works on it.
  const published = Promise.all(Array.from({ length: TOTAL }, (_, i) => js.publish(subject, JSON.stringify({ i }))))
  await expect.poll(async () => (await consumer()).ack_floor.stream_seq, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(300)
  a.kill('SIGKILL')
  await a.exited
  expect(a.signalCode).toBe('SIGKILL')
  await published
  const atKill = await consumer()
  expect(atKill.num_pending).toBeGreaterThan(0)
  // What the server had handed to A and not seen acked.
  expect(atKill.num_ack_pending).toBeLessThanOrEqual(HELD_AT_MOST)
  const ranInA = runs.length

  const b = spawnDev(project, { url: server.url, label: 'B' })
  processes.push(b)
  await b.waitFor(/fn dev ready/)
  await expect
    .poll(async () => {
      const c = await consumer()
      return { pending: c.num_pending, ackPending: c.num_ack_pending }
    }, { timeout: 30_000, interval: 250 })
    .toEqual({ pending: 0, ackPending: 0 })

  // Every message ran, none is lost; none was dead-lettered.
  expect(subErrors).toEqual([])
  const times = new Map<number, number>()
  for (const r of runs) times.set(r.i, (times.get(r.i) ?? 0) + 1)
  const missing = Array.from({ length: TOTAL }, (_, i) => i).filter((i) => !times.has(i))
  expect(missing).toEqual([])
  const dlq = await jsm.streams.info('FN_DLQ', { subjects_filter: `fn.dlq.${fn}` })
  expect(dlq.state.subjects?.[`fn.dlq.${fn}`] ?? 0).toBe(0)
  const outSubject = `${prefix}.out`
  const stored = await jsm.streams.info(prefix, { subjects_filter: outSubject })
  expect(stored.state.subjects?.[outSubject]).toBe(TOTAL)

  // Only messages A held at the kill came back (deliveries > 1), and only they ran twice.
  const redelivered = new Set(runs.slice(ranInA).filter((r) => r.deliveries > 1).map((r) => r.i))
  expect(redelivered.size).toBeLessThanOrEqual(HELD_AT_MOST)
  const twice = [...times].filter(([, n]) => n > 1).map(([i]) => i)
  expect(twice.length).toBeLessThanOrEqual(HELD_AT_MOST)
  for (const i of twice) expect(redelivered).toContain(i)
  expect(Math.max(...times.values())).toBeLessThanOrEqual(2)
  expect(b.output).toMatch(new RegExp(`consumer running.*"fn":"${fn}"`))
}, 60_000)
