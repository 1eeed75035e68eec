/**
 * `fn replay` as a user runs it (real `fn` processes, a real `fn start`): what the stream holds
 * from a point runs again on the replicas, its outputs and dead letters are stored again (not
 * dropped as duplicates of the first run's, although they fall in the duplicate window), what
 * was published after the replay began runs once, and the replay's consumer is gone at the end.
 */
import { describe, expect, it } from 'vitest'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

function source(prefix: string): string {
  return `import { defineFunction, NonRetryableError } from 'jetfn'
export default defineFunction({
  name: '${prefix}_orders',
  subject: '${prefix}.in',
  async handler(event, ctx) {
    if (event.data.fail) throw new NonRetryableError('bad order ' + event.data.i)
    ctx.publish('${prefix}.out', { i: event.data.i })
  },
})
`
}

/** How many times each `i` has an output, in the stream. */
async function outputs(prefix: string): Promise<Map<number, number>> {
  const info = await t.jsm.streams.info(prefix, { subjects_filter: `${prefix}.out` })
  const n = info.state.subjects?.[`${prefix}.out`] ?? 0
  const counts = new Map<number, number>()
  if (n === 0) return counts
  const c = await t.js.consumers.get(prefix, { filter_subjects: [`${prefix}.out`] })
  for (let k = 0; k < n; k++) {
    const i = (await c.next({ expires: 5_000 }))!.json<{ i: number }>().i
    counts.set(i, (counts.get(i) ?? 0) + 1)
  }
  return counts
}

const total = async (prefix: string) => [...(await outputs(prefix)).values()].reduce((a, b) => a + b, 0)
const deadLetters = async (name: string) => (await t.jsm.streams.info('FN_DLQ', { subjects_filter: `fn.dlq.${name}` })).state.subjects?.[`fn.dlq.${name}`] ?? 0

describe('fn replay', () => {
  it('re-runs the stream from a point on every replica: outputs and dead letters again, later messages once', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_orders`
    const p = await t.project(prefix, { 'orders.ts': source(prefix) })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replica = spawnStart(p, t.server.url)
    t.replicas.push(replica)
    await replica.waitFor((r) => r.msg === 'function version live' && r.fn === name, 'live')

    // Ten orders, the fourth one bad: nine outputs and one dead letter.
    const seqs: number[] = []
    for (let i = 0; i < 10; i++) seqs.push((await t.js.publish(`${prefix}.in`, JSON.stringify({ i, fail: i === 3 }))).seq)
    await expect.poll(() => total(prefix), { timeout: 20_000 }).toBe(9)
    await expect.poll(() => deadLetters(name), { timeout: 20_000 }).toBe(1)

    // From the sixth order on, waiting for the end: five orders run again.
    const replay = await runFn(p, ['replay', name, '--from-seq', String(seqs[5]), '--yes', '--wait'], t.server.url)
    expect(replay.stderr).toBe('')
    expect(replay.code).toBe(0)
    const lines = replay.stdout.trim().split('\n')
    expect(lines[0]).toMatch(new RegExp(`^${name}  will re-run 5 messages of stream ${prefix} \\(${prefix}\\.in\\) from stream sequence ${seqs[5]} through sequence \\d+, on version [0-9a-f]{12}; each is a new run: its outputs are published again$`))
    expect(lines.at(-1)).toMatch(new RegExp(`^${name}  replay [0-9a-z]+ done: 5 messages ran again$`))
    const after = await outputs(prefix)
    expect(Object.fromEntries(after)).toEqual({ 0: 1, 1: 1, 2: 1, 4: 1, 5: 2, 6: 2, 7: 2, 8: 2, 9: 2 })

    // The whole stream, without waiting; the bad order is dead-lettered a second time.
    const all = await runFn(p, ['replay', name, '--since', '1h', '--yes'], t.server.url)
    expect(all.code).toBe(0)
    expect(all.stdout).toContain('will re-run 10 messages')
    await expect.poll(() => total(prefix), { timeout: 20_000 }).toBe(14 + 9)
    await expect.poll(() => deadLetters(name), { timeout: 20_000 }).toBe(2)
    // Published after that replay began: runs once, on the function's own consumer.
    await t.js.publish(`${prefix}.in`, JSON.stringify({ i: 10 }))
    await expect.poll(async () => (await outputs(prefix)).get(10), { timeout: 20_000 }).toBe(1)

    // Ledger: every order ran as many times as it was run for, nothing is pending anywhere,
    // and the finished replay's consumer is gone once `fn replay --wait` or a deploy ends it.
    const listed = JSON.parse((await runFn(p, ['ls', '--json'], t.server.url)).stdout) as Array<{ name: string; replay: unknown }>
    expect(listed.find((s) => s.name === name)!.replay).toEqual({ id: expect.stringMatching(/^[0-9a-z]+$/), count: 10, left: 0, finished: true })
    const manifest = await t.registry.get(name)
    expect(manifest!.replays).toHaveLength(1)
    expect(manifest!.replays![0]!.consumer).toBe(`fn_${name}_replay`)
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    expect((await t.registry.get(name))!.replays).toBeUndefined()
    expect((await runFn(p, ['replay', name, '--from-seq', '999999', '--yes'], t.server.url)).stdout).toContain('nothing to replay')
    const names: string[] = []
    for await (const c of t.jsm.consumers.list(prefix)) names.push(c.name)
    expect(names.filter((n) => n.startsWith(`fn_${name}`))).toEqual([`fn_${name}`])
    const info = await t.jsm.consumers.info(prefix, `fn_${name}`)
    expect([info.num_pending, info.num_ack_pending]).toEqual([0, 0])
    expect(Object.fromEntries(await outputs(prefix))).toEqual({ 0: 2, 1: 2, 2: 2, 4: 2, 5: 3, 6: 3, 7: 3, 8: 3, 9: 3, 10: 1 })
  }, 120_000)

  it('refuses without a terminal or --yes, and a point given twice or not at all, and starts nothing', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_orders`
    const p = await t.project(prefix, { 'orders.ts': source(prefix) })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    await t.js.publish(`${prefix}.in`, JSON.stringify({ i: 0 }))
    const noYes = await runFn(p, ['replay', name, '--from-seq', '1'], t.server.url)
    expect([noYes.code, noYes.stderr.split('\n')[0]]).toEqual([1, 'FN_USAGE_INVALID: fn replay asks for confirmation, and stdin is not a terminal'])
    const both = await runFn(p, ['replay', name, '--from-seq', '1', '--since', '1h', '--yes'], t.server.url)
    expect([both.code, both.stderr.split('\n')[0]]).toEqual([1, 'FN_USAGE_INVALID: fn replay needs one of --from-seq or --since'])
    const missing = await runFn(p, ['replay', 'nope', '--from-seq', '1', '--yes'], t.server.url)
    expect([missing.code, missing.stderr.split('\n')[0]]).toEqual([1, "FN_FUNCTION_NOT_FOUND: no function named 'nope' is deployed"])
    const names: string[] = []
    for await (const c of t.jsm.consumers.list(prefix)) names.push(c.name)
    expect(names).toEqual([`fn_${name}`])
    expect((await t.registry.get(name))!.replays).toBeUndefined()
  }, 60_000)
})
