/**
 * Concurrency per key and across replicas: `concurrency: { key, limit }` never lets more than
 * `limit` runs of one key overlap, however many replicas run, while keys run in parallel; and
 * `concurrency.total` caps what runs across every replica (the consumer's max_ack_pending). Real
 * `fn start` replicas; messages from a raw-protocol publisher; each test ends with a ledger.
 */
import { describe, expect, it } from 'vitest'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { headerBlock, RawNatsClient } from '../helpers/raw-nats.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

interface Run {
  i: number
  key: string
  start: number
  end: number
  pid: number
}

function recordingFunction(prefix: string, name: string, concurrency: string, sleep: string): string {
  return `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${name}',
  subject: '${prefix}.jobs',
  concurrency: ${concurrency},
  async handler(event, ctx) {
    const start = Date.now()
    await new Promise((resolve) => setTimeout(resolve, ${sleep}))
    ctx.publish('${prefix}.runs', { i: event.data.i, key: event.data.key, start, end: Date.now(), pid: process.pid })
  },
})
`
}

/** The most runs overlapping at any instant. */
function mostOverlapping(runs: Run[]): number {
  const edges = runs.flatMap((r) => [[r.start, 1] as const, [r.end, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let now = 0
  let most = 0
  for (const [, d] of edges) most = Math.max(most, (now += d))
  return most
}

async function publish(prefix: string, total: number, keys: number): Promise<void> {
  const raw = await RawNatsClient.connect(t.server.url)
  try {
    await Promise.all(
      Array.from({ length: total }, (_, i) => {
        const key = `t${i % keys}`
        return raw.jsPublish(`${prefix}.jobs`, Buffer.from(JSON.stringify({ i, key })), headerBlock([`Tenant: ${key}`]))
      }),
    )
  } finally {
    raw.close()
  }
}

async function allRuns(prefix: string, total: number): Promise<Run[]> {
  const count = async () => (await t.jsm.streams.info(prefix, { subjects_filter: `${prefix}.runs` })).state.subjects?.[`${prefix}.runs`] ?? 0
  await expect.poll(count, { timeout: 60_000, interval: 250 }).toBe(total)
  const c = await t.js.consumers.get(prefix, { filter_subjects: [`${prefix}.runs`] })
  const out: Run[] = []
  for await (const m of await c.fetch({ max_messages: total, expires: 10_000 })) out.push(m.json<Run>())
  return out
}

async function ledger(prefix: string, name: string, runs: Run[], total: number): Promise<void> {
  expect(runs.map((r) => r.i).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i))
  const info = await t.jsm.consumers.info(prefix, `fn_${name}`)
  expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0])
  const dlq = await t.jsm.streams.info('FN_DLQ', { subjects_filter: `fn.dlq.${name}` }).catch(() => undefined)
  expect(dlq?.state.subjects?.[`fn.dlq.${name}`] ?? 0).toBe(0)
}

describe('concurrency per key and across replicas', () => {
  it('holds concurrency in one replica while a fast function gets batches larger than its free slots', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_few`
    // 5 ms of waiting and next to no CPU: the pace makes the prefetch (and batches) several times
    // the 2 slots; the worker starts the rest of each batch only as its running handlers end.
    const source = recordingFunction(prefix, name, '2', '5').replace('const start = Date.now()', 'const start = performance.timeOrigin + performance.now()').replace('end: Date.now()', 'end: performance.timeOrigin + performance.now()')
    const p = await t.project(prefix, { 'few.ts': source })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replica = spawnStart(p, t.server.url, 'replica')
    t.replicas.push(replica)
    await replica.waitFor((l) => l.msg === 'function version live' && l.fn === name, 'live')

    await publish(prefix, 300, 300)
    const runs = await allRuns(prefix, 300)
    expect(mostOverlapping(runs), 'most runs at once').toBe(2)
    await ledger(prefix, name, runs, 300)
  }, 90_000)

  it('never runs more than limit of one key at once across two replicas, keys in parallel', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_perkey`
    const p = await t.project(prefix, { 'perkey.ts': recordingFunction(prefix, name, "{ key: { header: 'Tenant' }, limit: 2, replica: 16 }", '5 + Math.floor(Math.random() * 26)') })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replicas = [spawnStart(p, t.server.url, 'replica a'), spawnStart(p, t.server.url, 'replica b')]
    t.replicas.push(...replicas)
    for (const r of replicas) await r.waitFor((l) => l.msg === 'function version live' && l.fn === name, 'live')

    await publish(prefix, 600, 6)
    const runs = await allRuns(prefix, 600)
    const byKey = new Map<string, Run[]>()
    for (const r of runs) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r])
    const perKey = [...byKey.values()].map(mostOverlapping)
    expect(Math.max(...perKey), 'most runs of one key at once').toBeLessThanOrEqual(2)
    // The limit is used, not undercut: keys ran two at a time, and keys ran side by side.
    expect(Math.max(...perKey)).toBe(2)
    expect(mostOverlapping(runs)).toBeGreaterThan(2)
    await ledger(prefix, name, runs, 600)
  }, 90_000)

  it('caps what runs across every replica with concurrency.total', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_total`
    const p = await t.project(prefix, { 'total.ts': recordingFunction(prefix, name, '{ total: 3, replica: 8 }', '40') })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const info = await t.jsm.consumers.info(prefix, `fn_${name}`)
    expect(info.config.max_ack_pending).toBe(3)
    const replicas = [spawnStart(p, t.server.url, 'replica a'), spawnStart(p, t.server.url, 'replica b')]
    t.replicas.push(...replicas)
    for (const r of replicas) await r.waitFor((l) => l.msg === 'function version live' && l.fn === name, 'live')

    await publish(prefix, 90, 90)
    const runs = await allRuns(prefix, 90)
    expect(mostOverlapping(runs), 'most runs at once across both replicas').toBeLessThanOrEqual(3)
    expect(new Set(runs.map((r) => r.pid)).size).toBe(2)
    await ledger(prefix, name, runs, 90)
  }, 90_000)
})
