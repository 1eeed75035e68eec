/**
 * Graceful shutdown as a user sees it, with `fn dev` as a real process: SIGTERM during a run of
 * slow handlers lets the running ones finish and acks them, exits 0, and hands the rest back so
 * that a second replica takes them at once (well before `ack_wait`); a second SIGTERM forces exit,
 * and a second replica still finishes everything.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { connectTo } from '../helpers/connect.ts'
import { logRecords, spawnDev, writeDevProject, type DevProcess, type DevProject } from '../helpers/dev-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

let server: NatsServerProcess
let nc: NatsConnection
let js: JetStreamClient
let jsm: JetStreamManager
const processes: DevProcess[] = []
const projects: DevProject[] = []

beforeAll(async () => {
  server = await startServer()
  nc = await connectTo(server.url)
  js = jetstream(nc)
  jsm = await jetstreamManager(nc)
})

afterEach(async () => {
  await Promise.all(processes.splice(0).map((p) => p[Symbol.asyncDispose]()))
  await Promise.all(projects.splice(0).map((p) => p.remove()))
})

afterAll(async () => {
  await nc?.close()
  await server?.stop()
})

const CONCURRENCY = 4
const HANDLER_MS = 1_500

/** A handler that logs when it starts, works for HANDLER_MS, publishes its seq and logs when done. */
function slowFunction(prefix: string, ackWait: string): string {
  return `
import { setTimeout as delay } from 'node:timers/promises'
import { defineFunction } from 'jetfn'

export default defineFunction({
  name: '${prefix}_slow',
  subject: '${prefix}.in',
  concurrency: ${CONCURRENCY},
  ackWait: '${ackWait}',
  async handler(event, ctx) {
    ctx.log.info('slow started')
    await delay(${HANDLER_MS})
    ctx.publish('${prefix}.out', { seq: event.seq })
    ctx.log.info('slow done')
  },
})
`
}

async function project(prefix: string, ackWait: string): Promise<DevProject> {
  const p = await writeDevProject({
    prefix,
    config: {
      streams: [{ name: prefix, subjects: [`${prefix}.>`] }],
      pool: { threads: 2 },
      shutdownGrace: '10s',
      http: { port: 0 },
    },
    functions: { 'slow.ts': slowFunction(prefix, ackWait) },
  })
  projects.push(p)
  return p
}

async function replica(p: DevProject, label: string): Promise<DevProcess> {
  const dev = spawnDev(p, { url: server.url, label })
  processes.push(dev)
  await dev.waitFor(/fn dev ready/)
  return dev
}

/** Publishes `n` messages to the function's subject; returns their stream sequences. */
async function publish(prefix: string, n: number): Promise<number[]> {
  const acks = await Promise.all(Array.from({ length: n }, (_, i) => js.publish(`${prefix}.in`, JSON.stringify({ i }))))
  return acks.map((a) => a.seq)
}

async function consumer(prefix: string) {
  const info = await jsm.consumers.info(prefix, `fn_${prefix}_slow`)
  return { pending: info.num_pending, ackPending: info.num_ack_pending, ackFloor: info.ack_floor.stream_seq }
}

/** Source seqs of the outputs the stream stored (one per seq: outputs are deduplicated by id). */
async function outputSeqs(prefix: string): Promise<number[]> {
  const subject = `${prefix}.out`
  const info = await jsm.streams.info(prefix, { subjects_filter: subject })
  const count = info.state.subjects?.[subject] ?? 0
  const seqs: number[] = []
  if (count === 0) return seqs
  const c = await js.consumers.get(prefix, { filter_subjects: [subject] })
  const it = await c.fetch({ max_messages: count, expires: 5_000 })
  for await (const m of it) {
    seqs.push((m.json() as { seq: number }).seq)
    if (seqs.length === count) break
  }
  return seqs.sort((a, b) => a - b)
}

/** Seqs whose handler ran to the end in this process, one entry per run. */
const doneSeqs = (dev: DevProcess, fn: string): number[] =>
  logRecords(dev.output, 'slow done').filter((r) => r.fn === fn).map((r) => r.seq as number)
const startedSeqs = (dev: DevProcess, fn: string): number[] =>
  logRecords(dev.output, 'slow started').filter((r) => r.fn === fn).map((r) => r.seq as number)

const sorted = (xs: Iterable<number>): number[] => [...xs].sort((a, b) => a - b)

it('SIGTERM: running handlers finish and are acked, exit 0, a second replica takes the rest at once', async () => {
  const prefix = uniquePrefix()
  const fn = `${prefix}_slow`
  const ackWaitMs = 30_000
  const p = await project(prefix, '30s')
  const a = await replica(p, 'A')
  const seqs = await publish(prefix, 20)

  // Handlers are running: A says so, and the server counts unacked deliveries.
  await a.waitFor(new RegExp(`slow started.*"fn":"${fn}"`))
  await expect.poll(async () => (await consumer(prefix)).ackPending, { timeout: 10_000 }).toBeGreaterThan(0)
  const signalledAt = Date.now()
  a.kill('SIGTERM')
  expect(await a.exited).toBe(0)
  const inFlight = sorted(new Set(startedSeqs(a, fn)))
  expect(inFlight.length).toBeGreaterThan(0)
  expect(inFlight.length).toBeLessThanOrEqual(CONCURRENCY)
  // Every handler running at the signal ran to its end and its message was acked before exit.
  expect(sorted(doneSeqs(a, fn))).toEqual(inFlight)
  expect(await outputSeqs(prefix)).toEqual(inFlight)
  // Acked before exit. (What A handed back still counts as ack pending until redelivered.)
  const before = await jsm.consumers.info(prefix, `fn_${fn}`)
  expect(before.ack_floor.stream_seq).toBeGreaterThanOrEqual(Math.max(...inFlight))
  // What A held without running it (its prefetch) was handed back, not left to time out.
  const handedBack = seqs.filter((s) => s <= before.delivered.stream_seq && !inFlight.includes(s))
  expect(handedBack.length).toBeGreaterThan(0)
  expect(a.output).toMatch(/replica state.*"to":"stopped"/)

  const b = await replica(p, 'B')
  for (const s of handedBack) await b.waitFor(new RegExp(`slow started.*"fn":"${fn}".*"seq":${s},"deliveries":2`), 10_000)
  expect(Date.now() - signalledAt).toBeLessThan(ackWaitMs / 2)
  await expect.poll(async () => (await outputSeqs(prefix)).length, { timeout: 25_000 }).toBe(seqs.length)
  // Had A left anything to time out, B could not have had it before ack_wait.
  expect(Date.now() - signalledAt).toBeLessThan(ackWaitMs)
  expect(await outputSeqs(prefix)).toEqual(sorted(seqs))
  await expect.poll(() => consumer(prefix), { timeout: 5_000 }).toMatchObject({ pending: 0, ackPending: 0 })
  // Each message ran exactly once: nothing A started was run again, nothing was left out.
  expect(sorted([...doneSeqs(a, fn), ...doneSeqs(b, fn)])).toEqual(sorted(seqs))
  expect(sorted(doneSeqs(b, fn)).filter((s) => inFlight.includes(s))).toEqual([])
}, 60_000)

it('a second SIGTERM during the drain forces exit; a second replica still finishes every message', async () => {
  const prefix = uniquePrefix()
  const fn = `${prefix}_slow`
  // Messages the forced exit leaves unsettled come back after ack_wait: keep it short.
  const p = await project(prefix, '3s')
  const a = await replica(p, 'A')
  const seqs = await publish(prefix, 12)

  await a.waitFor(new RegExp(`slow started.*"fn":"${fn}"`))
  a.kill('SIGTERM')
  await a.waitFor(/stopping/)
  a.kill('SIGTERM')
  const code = await a.exited
  expect(code).not.toBe(0)
  expect(code).not.toBeNull()
  expect(a.output).toMatch(/SIGTERM again: exiting now/)
  expect(a.output).not.toMatch(/replica state.*"to":"stopped"/)
  const inFlight = new Set(startedSeqs(a, fn))

  const b = await replica(p, 'B')
  await expect.poll(async () => (await outputSeqs(prefix)).length, { timeout: 30_000 }).toBe(seqs.length)
  expect(await outputSeqs(prefix)).toEqual(sorted(seqs))
  await expect.poll(() => consumer(prefix), { timeout: 5_000 }).toMatchObject({ pending: 0, ackPending: 0 })
  // B ran each message once; what came back to it from A (deliveries > 1) is at most what A
  // held (concurrency + a prefetch of 1), and includes every handler A was cut off in.
  const doneA = doneSeqs(a, fn)
  const runsB = logRecords(b.output, 'slow done').filter((r) => r.fn === fn)
  const ranInB = runsB.map((r) => r.seq as number)
  expect(new Set(ranInB).size).toBe(ranInB.length)
  expect(sorted(new Set([...doneA, ...ranInB]))).toEqual(sorted(seqs))
  const redelivered = runsB.filter((r) => (r.deliveries as number) > 1).map((r) => r.seq as number)
  expect(redelivered.length).toBeLessThanOrEqual(CONCURRENCY + 1)
  for (const s of inFlight) if (!doneA.includes(s)) expect(redelivered).toContain(s)
}, 60_000)
