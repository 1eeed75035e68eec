/**
 * `rateLimit` holds for a function as a whole: two real `fn start` replicas share one bucket, and
 * runs start no faster than the limit (plus its burst) over any window, while every message still
 * runs exactly once and none is dead-lettered for waiting (ledger).
 */
import { describe, expect, it } from 'vitest'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'
import { headers as natsHeaders } from '@nats-io/transport-node'

function headersOf(values: Record<string, string>) {
  const h = natsHeaders()
  for (const [k, v] of Object.entries(values)) h.set(k, v)
  return h
}

const t = useTestServer()

interface Run {
  i: number
  started: number
  pid: number
}

async function runs(prefix: string, n: number): Promise<Run[]> {
  const c = await t.js.consumers.get(prefix, { filter_subjects: [`${prefix}.out`] })
  const out: Run[] = []
  for (let k = 0; k < n; k++) out.push((await c.next({ expires: 5_000 }))!.json<Run>())
  return out
}

describe('rateLimit', () => {
  it('starts at most limit per period across two replicas, and runs every message once', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_limited`
    const p = await t.project(prefix, {
      'limited.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${name}',
  subject: '${prefix}.in',
  concurrency: 16,
  rateLimit: { limit: 50, per: '1s' },
  async handler(event, ctx) {
    ctx.publish('${prefix}.out', { i: event.data.i, started: Date.now(), pid: process.pid })
  },
})
`,
    })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replicas = [spawnStart(p, t.server.url, 'replica a'), spawnStart(p, t.server.url, 'replica b')]
    t.replicas.push(...replicas)
    for (const r of replicas) await r.waitFor((l) => l.msg === 'function version live' && l.fn === name, 'live')

    const total = 500
    await Promise.all(Array.from({ length: total }, (_, i) => t.js.publish(`${prefix}.in`, JSON.stringify({ i }))))
    const stored = async () => (await t.jsm.streams.info(prefix, { subjects_filter: `${prefix}.out` })).state.subjects?.[`${prefix}.out`] ?? 0
    await expect.poll(stored, { timeout: 40_000, interval: 250 }).toBe(total)

    const all = await runs(prefix, total)
    // Ledger: each message ran once, on both replicas, and nothing is left or dead-lettered.
    expect(all.map((r) => r.i).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i))
    expect(new Set(all.map((r) => r.pid)).size).toBe(2)
    const info = await t.jsm.consumers.info(prefix, `fn_${name}`)
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0])
    const dlq = await t.jsm.streams.info('FN_DLQ', { subjects_filter: `fn.dlq.${name}` }).catch(() => undefined)
    expect(dlq?.state.subjects?.[`fn.dlq.${name}`] ?? 0).toBe(0)

    // The rate: 50 per second with a burst of 5, over every 1 s and 2 s window of start times. The
    // bound allows two more bursts: a start is stamped when the handler runs, which on a loaded
    // box can lag the token it took by a few tens of ms (seen: 56 and 61 in the busiest second).
    const starts = all.map((r) => r.started).sort((a, b) => a - b)
    for (const [window, most] of [[1_000, 65], [2_000, 115]] as const) {
      let worst = 0
      for (let a = 0, b = 0; a < starts.length; a++) {
        while (b < starts.length && starts[b]! < starts[a]! + window) b++
        worst = Math.max(worst, b - a)
      }
      expect(worst, `runs started in the busiest ${window} ms`).toBeLessThanOrEqual(most)
      // Not starved either: the limit is used, not undercut by far.
      expect(worst).toBeGreaterThanOrEqual((window / 1_000) * 50 * 0.7)
    }
    expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(((total - 5) / 50) * 1_000 - 200)
  }, 90_000)

  it('limits each key on its own with rateLimit.key, keys side by side, nothing dead-lettered', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_perkey`
    const p = await t.project(prefix, {
      'perkey.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${name}',
  subject: '${prefix}.in',
  concurrency: 16,
  rateLimit: { limit: 5, per: '1s', burst: 1, key: { header: 'Tenant' } },
  async handler(event, ctx) {
    ctx.publish('${prefix}.out', { i: event.data.i, tenant: event.headers.Tenant[0], started: Date.now(), pid: process.pid })
  },
})
`,
    })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replicas = [spawnStart(p, t.server.url, 'replica a'), spawnStart(p, t.server.url, 'replica b')]
    t.replicas.push(...replicas)
    for (const r of replicas) await r.waitFor((l) => l.msg === 'function version live' && l.fn === name, 'live')

    const total = 30
    for (let i = 0; i < total; i++) await t.js.publish(`${prefix}.in`, JSON.stringify({ i }), { headers: headersOf({ Tenant: i % 2 === 0 ? 'a' : 'b' }) })
    const stored = async () => (await t.jsm.streams.info(prefix, { subjects_filter: `${prefix}.out` })).state.subjects?.[`${prefix}.out`] ?? 0
    await expect.poll(stored, { timeout: 40_000, interval: 250 }).toBe(total)
    const all = (await runs(prefix, total)) as Array<Run & { tenant: string }>
    expect(all.map((r) => r.i).sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i))
    for (const tenant of ['a', 'b']) {
      const starts = all.filter((r) => r.tenant === tenant).map((r) => r.started).sort((a, b) => a - b)
      // 5 per second with a burst of 1: runs are let go 200 ms apart, so 15 take 14 intervals. A start
      // is stamped in the handler thread, a few ms after its token (more on a loaded box), so the
      // bound is over windows, with one run of slack, not between neighbours.
      for (let a = 0, b = 0; a < starts.length; a++) {
        while (b < starts.length && starts[b]! < starts[a]! + 1_000) b++
        expect(b - a, `tenant ${tenant}: runs started within 1 s of run ${a}`).toBeLessThanOrEqual(6)
      }
      expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(14 * 200 - 100)
    }
    // The two tenants ran side by side: all 30 took about as long as one tenant's 15.
    const span = Math.max(...all.map((r) => r.started)) - Math.min(...all.map((r) => r.started))
    expect(span).toBeLessThan(14 * 200 + 1_500)
    const info = await t.jsm.consumers.info(prefix, `fn_${name}`)
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0])
    const dlq = await t.jsm.streams.info('FN_DLQ', { subjects_filter: `fn.dlq.${name}` }).catch(() => undefined)
    expect(dlq?.state.subjects?.[`fn.dlq.${name}`] ?? 0).toBe(0)
  }, 90_000)
})
