/**
 * `fn pause` and `fn resume` as a user runs them (real `fn` processes) on a function served by a
 * real `fn start`: a paused function's messages wait in the stream while the replica keeps pulling,
 * `fn ls` shows the pause, a redeploy keeps it, a move to another stream carries it, `--until`
 * ends it on its own, and every message published runs exactly once in the end (ledger).
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { FunctionStatus } from '../../runtime/deploy/function-status.ts'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

function source(prefix: string, stream: 'a' | 'b', note = ''): string {
  return `import { defineFunction } from 'jetfn'
// ${note}
export default defineFunction({
  name: '${prefix}_work',
  subject: '${prefix}.${stream}.in',
  async handler(event, ctx) {
    ctx.publish('${prefix}.a.out', { seq: event.seq, data: event.data })
  },
})
`
}

/** The outputs stored so far: one per run. */
async function outputs(prefix: string): Promise<number[]> {
  const info = await t.jsm.streams.info(`${prefix}`, { subjects_filter: `${prefix}.a.out` })
  const n = info.state.subjects?.[`${prefix}.a.out`] ?? 0
  const seen: number[] = []
  if (n === 0) return seen
  const c = await t.js.consumers.get(prefix, { filter_subjects: [`${prefix}.a.out`] })
  for (let i = 0; i < n; i++) seen.push(((await c.next({ expires: 5_000 }))!.json<{ data: { i: number } }>()).data.i)
  return seen.sort((a, b) => a - b)
}

/** Resolves once a replica's pull waits on the consumer with `pending` messages not delivered: only a pause explains that. */
async function heldBack(stream: string, consumer: string, pending: number): Promise<void> {
  await expect
    .poll(async () => {
      const info = await t.jsm.consumers.info(stream, consumer)
      return { paused: info.paused === true, waiting: info.num_waiting > 0, pending: info.num_pending, running: info.num_ack_pending }
    }, { timeout: 20_000, interval: 100 })
    .toEqual({ paused: true, waiting: true, pending, running: 0 })
}

describe('fn pause / fn resume', () => {
  it('holds a function on every replica, keeps the pause over a redeploy, and runs each message once on resume', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_work`
    const consumer = `fn_${name}`
    const p = await t.project(prefix, { 'work.ts': source(prefix, 'a') })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replica = spawnStart(p, t.server.url)
    t.replicas.push(replica)
    await replica.waitFor((r) => r.msg === 'function version live' && r.fn === name, 'live')

    const paused = await runFn(p, ['pause', name], t.server.url)
    expect(paused).toEqual({ code: 0, stdout: `${name}  paused until fn resume; messages wait in stream ${prefix}, running ones finish\n`, stderr: '' })
    let published = 0
    const publish = async (n: number) => {
      for (let i = 0; i < n; i++) await t.js.publish(`${prefix}.a.in`, JSON.stringify({ i: published++ }))
    }
    await publish(20)
    await heldBack(prefix, consumer, 20)
    expect(await outputs(prefix)).toEqual([])

    const listed = JSON.parse((await runFn(p, ['ls', '--json'], t.server.url)).stdout) as FunctionStatus[]
    expect(listed.find((s) => s.name === name)).toMatchObject({ pausedUntil: '9999-01-01T00:00:00.000Z', pending: 20, inFlight: 0 })
    const table = (await runFn(p, ['ls'], t.server.url)).stdout
    expect(table.split('\n').find((l) => l.startsWith(`${name} `))!.split(/ {2,}/)[8]).toBe('until resumed')

    // A redeploy of changed code: the new version goes live on the replica, the pause stays.
    await writeFile(join(p.functionsDir, 'work.ts'), source(prefix, 'a', 'v2'))
    const redeployed = await runFn(p, ['deploy'], t.server.url)
    expect(redeployed.code).toBe(0)
    const v2 = (await t.registry.get(name))!.version.slice(0, 12)
    await replica.waitFor((r) => r.msg === 'function version live' && r.fn === name && r.version === v2, 'v2 live')
    await heldBack(prefix, consumer, 20)

    const resumed = await runFn(p, ['resume', name], t.server.url)
    expect(resumed).toEqual({ code: 0, stdout: `${name}  resumed\n`, stderr: '' })
    await expect.poll(async () => (await outputs(prefix)).length, { timeout: 20_000 }).toBe(20)

    // --until: paused for a short while, then the messages run with no command.
    const until = await runFn(p, ['pause', name, '--until', '3s', '--json'], t.server.url)
    expect(until.code).toBe(0)
    const state = JSON.parse(until.stdout) as { until: string; indefinitely: boolean }
    expect(state.indefinitely).toBe(false)
    expect(new Date(state.until).getTime()).toBeGreaterThan(Date.now())
    await publish(5)
    await heldBack(prefix, consumer, 5)
    await expect.poll(async () => (await outputs(prefix)).length, { timeout: 20_000 }).toBe(25)

    // Ledger: every message published ran exactly once; nothing pending, nothing unacked.
    expect(await outputs(prefix)).toEqual(Array.from({ length: published }, (_, i) => i))
    const info = await t.jsm.consumers.info(prefix, consumer)
    expect([info.num_pending, info.num_ack_pending, info.paused ?? false]).toEqual([0, 0, false])
  }, 120_000)

  it('carries a pause to the new consumer when a deploy moves the function to another stream', async () => {
    const prefix = uniquePrefix()
    const name = `${prefix}_work`
    const p = await t.project(prefix, { 'work.ts': source(prefix, 'a') }, {
      streams: [{ name: prefix, subjects: [`${prefix}.a.>`] }, { name: `${prefix}_B`, subjects: [`${prefix}.b.>`] }],
    })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    expect((await runFn(p, ['pause', name, '--until', '2099-01-01T00:00:00Z'], t.server.url)).stdout).toBe(
      `${name}  paused until 2099-01-01T00:00:00.000Z; messages wait in stream ${prefix}, running ones finish\n`,
    )
    await writeFile(join(p.functionsDir, 'work.ts'), source(prefix, 'b'))
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const moved = await t.jsm.consumers.info(`${prefix}_B`, `fn_${name}`)
    expect([moved.paused, moved.config.pause_until]).toEqual([true, '2099-01-01T00:00:00Z'])
  }, 60_000)

  it('refuses what it cannot do with one line naming the function or the value', async () => {
    const prefix = uniquePrefix()
    const p = await t.project(prefix, { 'work.ts': source(prefix, 'a') })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const missing = await runFn(p, ['pause', 'nope'], t.server.url)
    expect([missing.code, missing.stderr.split('\n')[0]]).toEqual([1, "FN_FUNCTION_NOT_FOUND: no function named 'nope' is deployed"])
    const bad = await runFn(p, ['pause', `${prefix}_work`, '--until', 'tomorrow'], t.server.url)
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([1, "FN_USAGE_INVALID: --until must be a duration such as 30m or 2h, or an ISO date and time such as 2026-12-01T09:00:00Z (got 'tomorrow')"])
    const past = await runFn(p, ['pause', `${prefix}_work`, '--until', '2020-01-01T00:00:00Z'], t.server.url)
    expect([past.code, past.stderr.split('\n')[0]]).toEqual([1, 'FN_USAGE_INVALID: --until 2020-01-01T00:00:00.000Z is not in the future'])
    expect((await t.jsm.consumers.info(prefix, `fn_${prefix}_work`)).paused ?? false).toBe(false)
  }, 60_000)
})
