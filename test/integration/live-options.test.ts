/**
 * Changing a function while it runs (issue 14), as an operator would: `fn deploy` of new options
 * under load on two `fn start` replicas, a move to another stream, `fn rm` and a redeploy, a
 * consumer deleted under a running replica. Each ends with a ledger: every message handled once
 * at least and output exactly once, nothing left pending, nothing replayed that should not be.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

/** A function on `subject` that takes ~2 ms, logs `handled` with its seq, and outputs `{ seq }` to `<out>`. */
function work(o: { subject: string; out: string; concurrency: number; ackWait?: string; startFrom?: string }): string {
  return `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: 'work',
  subject: '${o.subject}',
  concurrency: ${o.concurrency},
  ackWait: '${o.ackWait ?? '30s'}',
  ${o.startFrom ? `startFrom: ${o.startFrom},` : ''}
  async handler(event, ctx) {
    await new Promise((r) => setTimeout(r, 2))
    ctx.log.info({ seq: event.seq, stream: event.stream }, 'handled')
    ctx.publish('${o.out}', { seq: event.seq, stream: event.stream })
  },
})
`
}

function start(p: DevProject, label?: string): FnReplica {
  const r = spawnStart(p, t.server.url, label)
  t.replicas.push(r)
  return r
}

async function deploy(p: DevProject, source: string): Promise<string> {
  await writeFile(join(p.functionsDir, 'work.ts'), source)
  const r = await runFn(p, ['deploy'], t.server.url)
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return (await t.registry.get('work'))!.version
}

const live = (version: string) => (r: Record<string, unknown>) => r.msg === 'function version live' && r.version === version.slice(0, 12)

/** The outputs on `subject`, by source seq: how many each seq has, and their stored times. */
async function outputs(stream: string, subject: string): Promise<{ counts: Map<string, number>; outputAt: Map<string, number> }> {
  const counts = new Map<string, number>()
  const outputAt = new Map<string, number>()
  const info = await t.jsm.streams.info(stream, { subjects_filter: subject })
  const total = info.state.subjects?.[subject] ?? 0
  let seq = 0
  for (let i = 0; i < total; i++) {
    const m = await t.jsm.streams.getMessage(stream, { seq: seq + 1, next_by_subj: subject } as never)
    if (!m) break
    seq = m.seq
    const o = m.json<{ seq: number; stream: string }>()
    const key = `${o.stream}:${o.seq}`
    counts.set(key, (counts.get(key) ?? 0) + 1)
    outputAt.set(key, m.time.getTime())
  }
  return { counts, outputAt }
}

/**
 * The longest time, ms, during which some message had been published and not yet output while no
 * output at all appeared: a stall. Gaps while nothing waited (between publishing phases) do not count.
 */
function longestStallMs(messages: Array<[publishedAt: number, outputAt: number]>): number {
  const outs = messages.map(([, o]) => o).sort((x, y) => x - y)
  let longest = 0
  for (let k = 0; k + 1 < outs.length; k++) {
    const from = outs[k]!
    const to = outs[k + 1]!
    if (to - from <= longest) continue
    // The gap counts from when the oldest message still waiting through it was published.
    const waiting = messages.filter(([p, o]) => p <= from && o >= to).map(([p]) => p)
    if (waiting.length > 0) longest = Math.max(longest, to - Math.max(from, Math.min(...waiting)))
  }
  return longest
}

async function settledAll(stream: string): Promise<boolean> {
  const info = await t.jsm.consumers.info(stream, 'fn_work')
  return info.num_pending === 0 && info.num_ack_pending === 0
}

function handled(replicas: FnReplica[]): number {
  return replicas.reduce((n, r) => n + r.records().filter((x) => x.msg === 'handled').length, 0)
}

describe('options changed by a redeploy under load', () => {
  it('concurrency 64 → 4 → 16 and a shorter ackWait: both running replicas keep settling, each message output once', async () => {
    const prefix = uniquePrefix()
    const subject = `${prefix}.in.work`
    const out = `${prefix}.out`
    const p = await t.project(prefix, {})
    const v1 = await deploy(p, work({ subject, out, concurrency: 64 }))
    const a = start(p, 'a')
    const b = start(p, 'b')
    await Promise.all([a.waitFor(live(v1), 'a live'), b.waitFor(live(v1), 'b live')])
    const N = 1_500
    const published: number[] = []
    const publishedAt = new Map<number, number>()
    const publishSome = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const seq = (await t.js.publish(subject, JSON.stringify({ i: published.length }))).seq
        published.push(seq)
        publishedAt.set(seq, Date.now())
      }
    }
    await publishSome(N / 3)
    const v2 = await deploy(p, work({ subject, out, concurrency: 4, ackWait: '5s' }))
    await Promise.all([a.waitFor(live(v2), 'a on v2'), b.waitFor(live(v2), 'b on v2')])
    await publishSome(N / 3)
    // Lowered to 4: both replicas must still drain what came in (a pull size fixed at the old
    // concurrency once left them idle here for good).
    await expect.poll(() => settledAll(prefix), { timeout: 30_000, interval: 250 }).toBe(true)
    const v3 = await deploy(p, work({ subject, out, concurrency: 16, ackWait: '5s' }))
    await Promise.all([a.waitFor(live(v3), 'a on v3'), b.waitFor(live(v3), 'b on v3')])
    await publishSome(N / 3)

    await expect.poll(() => settledAll(prefix), { timeout: 60_000, interval: 250 }).toBe(true)
    const { counts, outputAt } = await outputs(prefix, out)
    expect(published.filter((s) => counts.get(`${prefix}:${s}`) !== 1)).toEqual([])
    expect(counts.size).toBe(N)
    // Never stalled: no 2 s went by without an output while a published message waited for one.
    expect(longestStallMs(published.map((s) => [publishedAt.get(s)!, outputAt.get(`${prefix}:${s}`)!]))).toBeLessThan(2_000)
    // Both replicas took part after the lowering (neither went idle).
    for (const r of [a, b]) expect(r.records().filter((x) => x.msg === 'handled' && x.version === v2.slice(0, 12)).length).toBeGreaterThan(0)
    const config = (await t.jsm.consumers.info(prefix, 'fn_work')).config
    expect(config.ack_wait).toBe(5_000_000_000)
    expect(config.max_deliver).toBe(-1)
  })

  it('a subject in another stream: the old consumer is drained and removed, the new one runs from the deploy on', async () => {
    const prefix = uniquePrefix()
    const streamA = `${prefix}_A`
    const streamB = `${prefix}_B`
    const p = await t.project(prefix, {}, { streams: [{ name: streamA, subjects: [`${prefix}.a.>`] }, { name: streamB, subjects: [`${prefix}.b.>`, `${prefix}.out`] }] })
    const out = `${prefix}.out`
    const v1 = await deploy(p, work({ subject: `${prefix}.a.in`, out, concurrency: 8 }))
    const a = start(p, 'a')
    const b = start(p, 'b')
    await Promise.all([a.waitFor(live(v1), 'a live'), b.waitFor(live(v1), 'b live')])
    for (let i = 0; i < 50; i++) await t.js.publish(`${prefix}.a.in`, '{}')
    // History in B from before the move is not replayed (startFrom 'new').
    await t.js.publish(`${prefix}.b.in`, '{"old":true}')
    await expect.poll(() => settledAll(streamA), { timeout: 20_000 }).toBe(true)

    const v2 = await deploy(p, work({ subject: `${prefix}.b.in`, out, concurrency: 8 }))
    await Promise.all([a.waitFor(live(v2), 'a on v2'), b.waitFor(live(v2), 'b on v2')])
    for (let i = 0; i < 50; i++) await t.js.publish(`${prefix}.b.in`, '{}')
    await expect.poll(() => settledAll(streamB), { timeout: 20_000 }).toBe(true)
    await expect.poll(async () => (await outputs(streamB, out)).counts.size, { timeout: 10_000 }).toBe(100)
    const { counts } = await outputs(streamB, out)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
    expect([...counts.keys()].filter((k) => k.startsWith(`${streamB}:`))).toHaveLength(50)
    expect(counts.has(`${streamB}:1`)).toBe(false)
    await expect.poll(() => t.jsm.consumers.info(streamA, 'fn_work').then(() => 'exists', () => 'gone'), { timeout: 10_000 }).toBe('gone')
  })
})

describe('start positions', () => {
  it('fn rm and a redeploy replay nothing; a consumer deleted under a running replica comes back after its ack floor', async () => {
    const prefix = uniquePrefix()
    const subject = `${prefix}.in.work`
    const out = `${prefix}.out`
    const p = await t.project(prefix, {})
    const pub = async (body = '{}') => (await t.js.publish(subject, body)).seq
    // Published before the first deploy, into a stream that already holds history: not run
    // (startFrom defaults to 'new').
    await t.jsm.streams.add({ name: prefix, subjects: [`${prefix}.>`] })
    const before = await pub()
    const v1 = await deploy(p, work({ subject, out, concurrency: 4 }))
    const r = start(p)
    await r.waitFor(live(v1), 'live')
    const five = [await pub(), await pub(), await pub(), await pub(), await pub()]
    const seqs = () => r.records().filter((x) => x.msg === 'handled').map((x) => x.seq as number)
    await expect.poll(() => seqs().length, { timeout: 15_000 }).toBe(5)

    expect((await runFn(p, ['rm', 'work'], t.server.url)).code).toBe(0)
    await r.waitFor((x) => x.msg === 'function removed', 'removed')
    const whileRemoved = await pub()
    const v2 = await deploy(p, work({ subject, out, concurrency: 4, ackWait: '31s' }))
    await r.waitFor(live(v2), 'live again')
    const afterRedeploy = await pub()
    await expect.poll(() => seqs().includes(afterRedeploy), { timeout: 15_000 }).toBe(true)
    expect(seqs().sort((a, b) => a - b)).toEqual([...five, afterRedeploy])

    // Lost under the running replica (deleted by hand): recreated after the ack floor it last
    // read (at most a few seconds old), never from the start of the stream.
    await t.jsm.consumers.delete(prefix, 'fn_work')
    const recreated = await r.waitFor((x) => x.msg === 'consumer created' && typeof x.startFrom === 'object', 'consumer recreated')
    const last = await pub()
    await expect.poll(() => seqs().includes(last), { timeout: 20_000 }).toBe(true)
    await expect.poll(() => settledAll(prefix), { timeout: 10_000 }).toBe(true)
    // Only what came after that floor may run again (at least once); nothing older.
    const floor = (recreated.startFrom as { seq: number }).seq - 1
    expect(floor).toBeGreaterThanOrEqual(five.at(-1)!)
    const counts = new Map<number, number>()
    for (const s of seqs()) counts.set(s, (counts.get(s) ?? 0) + 1)
    expect(counts.has(before)).toBe(false)
    expect(counts.has(whileRemoved)).toBe(false)
    for (const s of five) expect(counts.get(s)).toBe(1)
  })
})
