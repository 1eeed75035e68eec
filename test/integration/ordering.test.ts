/**
 * Ordering per key across real `fn start` replicas: messages of one key run one at a time, in
 * stream order, however many replicas run and when one is killed (at-least-once stays: a run
 * killed half-way runs again, but no later message of its key starts before it has settled).
 * Messages come from a raw-protocol publisher (no client library), with the key in a header or a
 * subject token. Each test ends with a ledger: every message ran, nothing is pending, nothing is
 * dead-lettered, and the server dropped nothing (no MAX_DELIVERIES advisory).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NatsConnection } from '@nats-io/transport-node'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { headerBlock, RawNatsClient } from '../helpers/raw-nats.ts'
import { connectTo } from '../helpers/connect.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()
const advisories: string[] = []
let watcher: NatsConnection

beforeAll(async () => {
  watcher = await connectTo(t.server.url)
  watcher.subscribe('$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>', { callback: (_e, m) => void advisories.push(m.subject) })
})
afterAll(async () => {
  await watcher?.close()
})

/** One completed run, as the handler recorded it. */
interface Run {
  seq: number
  key: string
  start: number
  end: number
  pid: number
}

/** A function whose handler sleeps 0–20 ms and records each run as an output on `<prefix>.runs`. */
function orderedFunction(prefix: string, name: string, subject: string, key: string, extra = '', before = ''): string {
  return `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${name}',
  subject: '${subject}',
  key: ${key},
  concurrency: 32,
  ackWait: '2s',
  ${extra}
  async handler(event, ctx) {
    ${before}
    const start = Date.now()
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 21)))
    ctx.publish('${prefix}.runs', { seq: event.seq, key: event.data.key, start, end: Date.now(), pid: process.pid })
  },
})
`
}

async function readRuns(prefix: string): Promise<Run[]> {
  const c = await t.js.consumers.get(prefix, { filter_subjects: [`${prefix}.runs`] })
  const info = await t.jsm.streams.info(prefix, { subjects_filter: `${prefix}.runs` })
  const n = info.state.subjects?.[`${prefix}.runs`] ?? 0
  const out: Run[] = []
  const it = await c.fetch({ max_messages: n, expires: 10_000 })
  for await (const m of it) out.push(m.json<Run>())
  expect(out).toHaveLength(n)
  return out
}

/** Every key's runs, by start time: in stream order, and each starts after the one before it ended. */
function checkOrder(runs: Run[]): void {
  const byKey = new Map<string, Run[]>()
  for (const r of runs) {
    const list = byKey.get(r.key) ?? []
    list.push(r)
    byKey.set(r.key, list)
  }
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.start - b.start || a.seq - b.seq)
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!
      const next = list[i]!
      expect(next.seq, `key ${key}: seq ${next.seq} ran after seq ${prev.seq}`).toBeGreaterThanOrEqual(prev.seq)
      expect(next.start, `key ${key}: seq ${next.seq} started at ${next.start}, before seq ${prev.seq} ended at ${prev.end}`).toBeGreaterThanOrEqual(prev.end)
    }
  }
}

/** Publishes `total` messages over `keys` keys from a raw connection; returns each message's stream sequence and key. */
async function publishRaw(subjectOf: (key: string) => string, total: number, keys: number, header?: string): Promise<Map<number, string>> {
  const raw = await RawNatsClient.connect(t.server.url)
  const published = new Map<number, string>()
  try {
    for (let i = 0; i < total; i += 100) {
      const acks = await Promise.all(
        Array.from({ length: Math.min(100, total - i) }, (_, j) => {
          const key = `k${(i + j) % keys}`
          const payload = Buffer.from(JSON.stringify({ key, i: i + j }))
          return raw.jsPublish(subjectOf(key), payload, header ? headerBlock([`${header}: ${key}`]) : undefined).then((ack) => [ack.seq, key] as const)
        }),
      )
      for (const [seq, key] of acks) published.set(seq, key)
    }
  } finally {
    raw.close()
  }
  return published
}

async function ledger(prefix: string, name: string, published: Map<number, string>, runs: Run[]): Promise<void> {
  const ran = new Set(runs.map((r) => r.seq))
  const missing = [...published.keys()].filter((s) => !ran.has(s))
  expect(missing, 'messages that never completed a run').toEqual([])
  for (const r of runs) expect(r.key).toBe(published.get(r.seq))
  const info = await t.jsm.consumers.info(prefix, `fn_${name}`)
  expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0])
  const dlq = await t.jsm.streams.info('FN_DLQ', { subjects_filter: `fn.dlq.${name}` }).catch(() => undefined)
  expect(dlq?.state.subjects?.[`fn.dlq.${name}`] ?? 0).toBe(0)
  expect(advisories).toEqual([])
}

async function startReplicas(p: Parameters<typeof spawnStart>[0], name: string, n: number): Promise<FnReplica[]> {
  const replicas = Array.from({ length: n }, (_, i) => spawnStart(p, t.server.url, `replica ${i}`))
  t.replicas.push(...replicas)
  for (const r of replicas) await r.waitFor((l) => l.msg === 'function version live' && l.fn === name, 'live')
  return replicas
}

describe('ordering per key', () => {
  it('runs each key in stream order, one at a time, across three replicas (key in a header)', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_ordered`
    const p = await t.project(prefix, { 'ordered.ts': orderedFunction(prefix, name, `${prefix}.orders`, "{ header: 'Customer-Id' }") })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    await startReplicas(p, name, 3)

    const published = await publishRaw(() => `${prefix}.orders`, 3_000, 30, 'Customer-Id')
    const outputs = async () => (await t.jsm.streams.info(prefix, { subjects_filter: `${prefix}.runs` })).state.subjects?.[`${prefix}.runs`] ?? 0
    await expect.poll(outputs, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(3_000)
    const runs = await readRuns(prefix)
    checkOrder(runs)
    // Different keys ran in parallel: the whole run took well under the sum of its handlers' times
    // (30 keys could run 30 at once; a bound of 2x holds on a loaded 2-core box).
    const span = Math.max(...runs.map((r) => r.end)) - Math.min(...runs.map((r) => r.start))
    const slept = runs.reduce((sum, r) => sum + (r.end - r.start), 0)
    expect(span).toBeLessThan(slept / 2)
    await ledger(prefix, name, published, runs)
  }, 120_000)

  it('keeps the order when the replica running the function is killed mid-run (key in a subject token)', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_orderedkill`
    const p = await t.project(prefix, { 'ordered.ts': orderedFunction(prefix, name, `${prefix}.orders.*`, '{ wildcard: 1 }') })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replicas = await startReplicas(p, name, 3)

    const publishing = publishRaw((key) => `${prefix}.orders.${key}`, 3_000, 30)
    const outputs = async () => (await t.jsm.streams.info(prefix, { subjects_filter: `${prefix}.runs` })).state.subjects?.[`${prefix}.runs`] ?? 0
    await expect.poll(outputs, { timeout: 60_000, interval: 100 }).toBeGreaterThanOrEqual(600)
    // The owner is the replica whose pid the runs carry; kill it while it runs.
    const first = await readRuns(prefix)
    const ownerPid = first.at(-1)!.pid
    const owner = replicas.find((r) => r.pid === ownerPid)!
    owner.kill('SIGKILL')
    await owner.exited
    const published = await publishing
    const survivors = replicas.filter((r) => r !== owner)
    await Promise.race(survivors.map((r) => r.waitFor((l) => l.msg === 'took over a keyed function', 'a takeover', 30_000)))
    await expect.poll(async () => new Set((await readRuns(prefix)).map((r) => r.seq)).size, { timeout: 60_000, interval: 500 }).toBe(3_000)
    const runs = await readRuns(prefix)
    expect(new Set(runs.map((r) => r.pid)).size).toBeGreaterThanOrEqual(2)
    checkOrder(runs)
    await ledger(prefix, name, published, runs)
  }, 150_000)

  it('holds back the later messages of a key while a failed one waits for its retry', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_orderedretry`
    // Every 7th message fails its first delivery; its retry comes 300 ms later.
    const p = await t.project(prefix, {
      'ordered.ts': orderedFunction(prefix, name, `${prefix}.orders.*`, '{ wildcard: 1 }', "retry: { backoff: ['300ms'], jitter: 0 },", "if (event.data.i % 7 === 0 && event.deliveries === 1) throw new Error('first try fails')"),
    })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    await startReplicas(p, name, 2)
    const published = await publishRaw((key) => `${prefix}.orders.${key}`, 300, 5)
    await expect.poll(async () => new Set((await readRuns(prefix)).map((r) => r.seq)).size, { timeout: 60_000, interval: 250 }).toBe(300)
    const runs = await readRuns(prefix)
    checkOrder(runs)
    await ledger(prefix, name, published, runs)
  }, 90_000)

  it('orders by a key function run in the handler threads; a key function that throws dead-letters its message', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_orderedfn`
    const key = "(event) => { if (event.data.i === 13) throw new Error('no key for 13'); return event.data.key }"
    const p = await t.project(prefix, { 'ordered.ts': orderedFunction(prefix, name, `${prefix}.orders`, key) })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    await startReplicas(p, name, 2)
    const published = await publishRaw(() => `${prefix}.orders`, 1_000, 10)
    await expect.poll(async () => new Set((await readRuns(prefix)).map((r) => r.seq)).size, { timeout: 60_000, interval: 250 }).toBe(999)
    const runs = await readRuns(prefix)
    checkOrder(runs)
    // Message 13 is the one dead letter, with the key function's error.
    const thirteen = [...published.keys()][13]!
    published.delete(thirteen)
    const dl = (await t.jsm.streams.getMessage('FN_DLQ', { last_by_subj: `fn.dlq.${name}` }))!
    expect(dl.header.get('Fn-Error-Kind')).toBe('non-retryable')
    expect(dl.header.get('Fn-Error')).toMatch(/KeyError: the key function threw: no key for 13/)
    expect(Number(dl.header.get('Fn-Source-Seq'))).toBe(thirteen)
    const info = await t.jsm.consumers.info(prefix, `fn_${name}`)
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0])
    const dlq = await t.jsm.streams.info('FN_DLQ', { subjects_filter: `fn.dlq.${name}` })
    expect(dlq.state.subjects?.[`fn.dlq.${name}`]).toBe(1)
    expect(advisories).toEqual([])
    const ran = new Set(runs.map((r) => r.seq))
    expect([...published.keys()].filter((s) => !ran.has(s))).toEqual([])
  }, 90_000)

  it('hands the function over at once when its owner stops (SIGTERM), not after the pin timeout', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_handover`
    // ackWait 30s: the pin timeout is 10 s, so only the owner's unpin explains a quick handover.
    const p = await t.project(prefix, { 'ordered.ts': orderedFunction(prefix, name, `${prefix}.orders.*`, '{ wildcard: 1 }').replace("ackWait: '2s'", "ackWait: '30s'") })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replicas = await startReplicas(p, name, 2)
    const first = await publishRaw((key) => `${prefix}.orders.${key}`, 50, 5)
    await expect.poll(async () => (await readRuns(prefix)).length, { timeout: 30_000, interval: 100 }).toBe(50)
    const owner = replicas.find((r) => r.records().some((l) => l.msg === 'took over a keyed function'))!
    owner.kill('SIGTERM')
    expect(await owner.exited).toBe(0)
    const stoppedAt = Date.now()
    const second = await publishRaw((key) => `${prefix}.orders.${key}`, 50, 5)
    await expect.poll(async () => (await readRuns(prefix)).length, { timeout: 30_000, interval: 100 }).toBe(100)
    expect(Date.now() - stoppedAt, 'handover after the owner stopped').toBeLessThan(8_000)
    const runs = await readRuns(prefix)
    expect(new Set(runs.filter((r) => second.has(r.seq)).map((r) => r.pid))).toEqual(new Set([replicas.find((r) => r !== owner)!.pid]))
    checkOrder(runs)
    await ledger(prefix, name, new Map([...first, ...second]), runs)
  }, 90_000)
})
