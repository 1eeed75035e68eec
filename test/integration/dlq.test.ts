/**
 * `fn dlq ls/show/replay/purge` as a user runs them: real `fn start`, `fn deploy` and `fn dlq`
 * processes on a real nats-server, each output checked against what the DLQ stream holds.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { StoredMsg } from '@nats-io/jetstream'
import { headers as natsHeaders } from '@nats-io/transport-node'
import type { DeadLetterDetailJson, DeadLetterSummaryJson } from '../../runtime/dlq/dead-letter-json.ts'
import type { DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'
import { deadLetters } from '../helpers/runtime.ts'

const t = useTestServer()

/**
 * The function under test. On `v1` every message fails: `mode: 'retry'` with a plain error (so it
 * is dead-lettered once its 2 deliveries are used), anything else as non-retryable. From `v2` on
 * it succeeds (a log line and an output), except `mode: 'still-fails'`. A payload that is not
 * JSON is dead-lettered as `decode` by the runtime on every version.
 */
function flaky(name: string, prefix: string, tag: string): string {
  return `import { defineFunction, NonRetryableError } from 'jetfn'

export default defineFunction({
  name: '${name}',
  subject: '${prefix}.in.flaky',
  retry: { maxDeliver: 2, backoff: ['10ms'], jitter: 0 },
  async handler(event, ctx) {
    const d = event.data as { id: string; mode?: string }
    if ('${tag}' === 'v1') {
      if (d.mode === 'retry') throw new Error('transient failure ' + d.id)
      throw new NonRetryableError('rejected ' + d.id)
    }
    if (d.mode === 'still-fails') throw new NonRetryableError('still rejected ' + d.id)
    ctx.log.info({ id: d.id, tag: '${tag}' }, 'handled')
    ctx.publish('${prefix}.out.' + d.id, { id: d.id, tag: '${tag}' })
  },
})
`
}

/** Another function whose dead letters must be left alone by everything done to the first. */
function other(name: string, prefix: string): string {
  return `import { defineFunction, NonRetryableError } from 'jetfn'

export default defineFunction({
  name: '${name}',
  subject: '${prefix}.in.other',
  async handler() {
    throw new NonRetryableError('never works')
  },
})
`
}


function start(p: DevProject): FnReplica {
  const r = spawnStart(p, t.server.url)
  t.replicas.push(r)
  return r
}

const live = (fn: string, version: string) => (r: Record<string, unknown>) =>
  r.msg === 'function version live' && r.fn === fn && r.version === version.slice(0, 12)

/** `fn dlq ...` with the project's config; fails the test with its stderr unless it exits 0. */
async function dlq(p: DevProject, args: string[]): Promise<string> {
  const r = await runFn(p, ['dlq', ...args], t.server.url)
  expect(r.stderr, `fn dlq ${args.join(' ')}`).toBe('')
  expect(r.code).toBe(0)
  return r.stdout
}

/** Dead letters of `fn` once there are `n` of them. */
async function waitForDeadLetters(fn: string, n: number): Promise<StoredMsg[]> {
  let found: StoredMsg[] = []
  await expect
    .poll(async () => {
      found = await deadLetters(t.jsm, fn)
      return found.length
    }, { timeout: 20_000 })
    .toBe(n)
  return found
}

const header = (m: StoredMsg, name: string) => m.header.get(name)
const byId = (letters: StoredMsg[], id: string) => letters.find((m) => m.string().includes(`"${id}"`))!

function output(prefix: string, id: string): Promise<unknown> {
  return t.lastJson(prefix, `${prefix}.out.${id}`)
}

async function consumerSettled(stream: string, fn: string): Promise<void> {
  await expect
    .poll(async () => {
      const info = await t.jsm.consumers.info(stream, `fn_${fn}`)
      return { pending: info.num_pending, ackPending: info.num_ack_pending }
    }, { timeout: 15_000 })
    .toEqual({ pending: 0, ackPending: 0 })
}

/** A project with `flaky` (v1: fails everything) and `other` deployed, a replica, and dead letters for both. */
async function deadLettered() {
  const prefix = uniquePrefix()
  const name = `${prefix}_flaky`
  const otherName = `${prefix}_other`
  const p = await t.project(prefix, { 'flaky.ts': flaky(name, prefix, 'v1'), 'other.ts': other(otherName, prefix) })
  expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
  const v1 = (await t.registry.get(name))!.version
  const replica = start(p)
  await replica.waitFor(live(name, v1), 'v1 live')

  const traced = natsHeaders()
  traced.set('X-Trace', 'abc')
  await t.js.publish(`${prefix}.in.flaky`, JSON.stringify({ id: 'a' }), { headers: traced, msgID: 'original-a' })
  await t.js.publish(`${prefix}.in.flaky`, JSON.stringify({ id: 'b', mode: 'retry' }))
  await t.js.publish(`${prefix}.in.flaky`, JSON.stringify({ id: 'c', mode: 'still-fails' }))
  await t.js.publish(`${prefix}.in.flaky`, new Uint8Array([0x00, 0x01, 0xff, 0x7b]))
  await t.js.publish(`${prefix}.in.other`, JSON.stringify({ id: 'x' }))
  const stored = await waitForDeadLetters(name, 4)
  const [otherLetter] = await waitForDeadLetters(otherName, 1)
  await consumerSettled(prefix, name)
  return {
    prefix, name, otherName, p, replica, v1, stored, otherLetter: otherLetter!,
    a: byId(stored, 'a'), b: byId(stored, 'b'), c: byId(stored, 'c'), d: stored.find((m) => m.data[0] === 0x00)!,
  }
}

describe('fn dlq', () => {
  it('ls and show print what the DLQ stream holds; a dry run changes nothing; bad arguments fail in one line', { timeout: 120_000 }, async () => {
    const { prefix, name, otherName, p, v1, stored, otherLetter, a, b, d } = await deadLettered()

    const [listedOut, tableOut, shown, binary, detailOut] = await Promise.all([
      dlq(p, ['ls', name, '--json']),
      dlq(p, ['ls', name]),
      dlq(p, ['show', name, String(a.seq)]),
      dlq(p, ['show', name, '--seq', String(d.seq)]),
      dlq(p, ['show', name, String(a.seq), '--json']),
    ])

    // ls --json: exactly what the DLQ stream holds, oldest first.
    const listed = JSON.parse(listedOut) as DeadLetterSummaryJson[]
    expect(listed.map((l) => l.seq)).toEqual(stored.map((m) => m.seq))
    expect(listed.map((l) => [l.errorKind, l.deliveries, l.error])).toEqual(
      stored.map((m) => [header(m, 'Fn-Error-Kind'), Number(header(m, 'Fn-Deliveries')), header(m, 'Fn-Error')]),
    )
    const row = (m: StoredMsg) => listed.find((l) => l.seq === m.seq)!
    expect(row(a)).toMatchObject({ errorKind: 'non-retryable', deliveries: 1, error: 'NonRetryableError: rejected a', function: name, version: v1, sourceStream: prefix, sourceSubject: `${prefix}.in.flaky`, size: a.data.length })
    expect(row(b)).toMatchObject({ errorKind: 'error', deliveries: 2, error: 'Error: transient failure b' })
    expect(row(d)).toMatchObject({ errorKind: 'decode', deliveries: 1, size: 4 })
    expect(new Date(row(a).failedAt).toISOString()).toBe(header(a, 'Fn-Failed-At'))

    // ls: a table with one row per dead letter.
    const table = tableOut.trimEnd().split('\n')
    expect(table[0]).toMatch(/^\s*SEQ {2}FAILED AT\s+KIND\s+DELIVERIES {2}ERROR$/)
    expect(table).toHaveLength(stored.length + 2)
    expect(table.at(-1)).toMatch(/^4 dead letters;/)
    expect(table.find((l) => l.trimStart().startsWith(`${b.seq} `))).toMatch(/ error +2 {2}Error: transient failure b$/)

    // show: every header and the payload, pretty when JSON, as hex when binary.
    for (const key of a.header.keys()) expect(shown).toContain(`  ${key}: ${a.header.get(key)}`)
    expect(shown).toContain('  X-Trace: abc')
    expect(shown).toContain('  Fn-Original-Msg-Id: original-a')
    expect(shown).toContain(`payload (json, ${a.data.length} bytes):\n{\n  "id": "a"\n}`)
    expect(binary).toContain('Fn-Error-Kind: decode')
    expect(binary).toMatch(/payload \(binary, 4 bytes\):\n00000000 {2}00 01 ff 7b +\|\.\.\.\{\|/)
    const detail = JSON.parse(detailOut) as DeadLetterDetailJson
    expect(detail).toMatchObject({ seq: a.seq, subject: `fn.dlq.${name}`, payload: { id: 'a' }, errorKind: 'non-retryable' })
    expect(detail.headers['X-Trace']).toEqual(['abc'])
    expect(Buffer.from(detail.payloadBase64, 'base64')).toEqual(Buffer.from(a.data))

    // A dry run reports and changes nothing.
    const sourceBefore = (await t.jsm.streams.info(prefix)).state.last_seq
    const [dry, dryPurge] = await Promise.all([dlq(p, ['replay', name, '--all', '--dry-run']), dlq(p, ['purge', name, '--dry-run'])])
    expect(dry.match(/^would replay {2}dlq seq \d+ -> /gm)).toHaveLength(4)
    expect(dry).toContain(`would replay  dlq seq ${a.seq} -> ${prefix}.in.flaky  (${a.data.length} bytes)`)
    expect(dry).toContain('dry run: 4 dead letters would be replayed; nothing changed')
    expect(dryPurge).toContain(`dry run: 4 dead letters of '${name}' would be removed; nothing changed`)
    expect((await deadLetters(t.jsm, name)).map((m) => m.seq)).toEqual(stored.map((m) => m.seq))
    expect((await t.jsm.streams.info(prefix)).state.last_seq).toBe(sourceBefore)

    // Bad arguments: one line (and a hint), exit 1, nothing on stdout.
    const bad = async (args: string[], line: RegExp) => {
      const r = await runFn(p, ['dlq', ...args], t.server.url)
      expect(r.code, `fn dlq ${args.join(' ')}`).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr.split('\n')[0]).toMatch(line)
      expect(r.stderr).not.toMatch(/^\s+at /m)
    }
    await Promise.all([
      bad(['ls', `${prefix}_nope`], new RegExp(`^FN_FUNCTION_NOT_FOUND: no function named '${prefix}_nope' is deployed or has dead letters in FN_DLQ$`)),
      bad(['show', name, '999999'], new RegExp(`^FN_USAGE_INVALID: seq 999999 is not a dead letter of '${name}' in FN_DLQ$`)),
      bad(['show', name, String(otherLetter.seq)], new RegExp(`^FN_USAGE_INVALID: seq ${otherLetter.seq} is not a dead letter of '${name}'`)),
      bad(['replay', otherName, '--seq', String(otherLetter.seq), '--seq', '999999'], /^FN_USAGE_INVALID: seq 999999 is not a dead letter of /),
    ])
    await Promise.all([
      bad(['replay', name], /^FN_USAGE_INVALID: say which dead letters to replay: --seq N \(repeatable\) or --all$/),
      bad(['replay', name, '--all', '--seq', '1'], /^FN_USAGE_INVALID: give either --seq or --all, not both$/),
      bad(['show', name], /^FN_USAGE_INVALID: missing <seq>$/),
      bad(['ls', 'fn.*'], /^FN_USAGE_INVALID: function name 'fn\.\*' must contain only letters/),
      bad(['purge', name, '--seq', 'x'], /^FN_USAGE_INVALID: --seq must be a positive whole number \(got 'x'\)$/),
    ])
    // The replay that named a good seq next to a bad one replayed nothing.
    expect((await deadLetters(t.jsm, otherName)).map((m) => m.seq)).toEqual([otherLetter.seq])
    expect((await t.jsm.streams.info(prefix)).state.last_seq).toBe(sourceBefore)
  })

  it('after a fix, replay republishes and deletes; a message that fails again comes back counted afresh; purge by seq and all', { timeout: 120_000 }, async () => {
    const { prefix, name, otherName, p, replica, stored, otherLetter, a, b, c, d } = await deadLettered()

    // The fix is deployed.
    await writeFile(join(p.functionsDir, 'flaky.ts'), flaky(name, prefix, 'v2'))
    expect((await runFn(p, ['deploy', name], t.server.url)).code).toBe(0)
    const v2 = (await t.registry.get(name))!.version
    await replica.waitFor(live(name, v2), 'v2 live')

    // A replay that fails again comes back as a new dead letter, its deliveries counted afresh.
    const again = await dlq(p, ['replay', name, String(c.seq)])
    expect(again).toMatch(new RegExp(`^replayed {2}dlq seq ${c.seq} -> ${prefix} seq \\d+ {2}\\(${prefix}\\.in\\.flaky\\)$`, 'm'))
    const lastBefore = Math.max(...stored.map((m) => m.seq))
    let back: StoredMsg | undefined
    await expect
      .poll(async () => {
        back = (await deadLetters(t.jsm, name)).find((m) => m.seq > lastBefore)
        return back !== undefined
      }, { timeout: 15_000 })
      .toBe(true)
    expect(back!.json()).toEqual({ id: 'c', mode: 'still-fails' })
    expect([header(back!, 'Fn-Error-Kind'), header(back!, 'Fn-Deliveries'), header(back!, 'Fn-Version')]).toEqual(['non-retryable', '1', v2])
    expect((await deadLetters(t.jsm, name)).map((m) => m.seq)).not.toContain(c.seq)

    // purge --seq removes exactly those.
    expect(await dlq(p, ['purge', name, '--seq', String(d.seq), '--seq', String(back!.seq)])).toContain(`removed 2 dead letters of '${name}'`)
    expect((await deadLetters(t.jsm, name)).map((m) => m.seq)).toEqual([a.seq, b.seq].sort((x, y) => x - y))

    // replay --all: published again with the original headers and a fresh id, handled, acked, gone from the DLQ.
    const replayed = await dlq(p, ['replay', name, '--all'])
    const lines = [...replayed.matchAll(/^replayed {2}dlq seq (\d+) -> (\S+) seq (\d+)/gm)]
    expect(lines.map((l) => Number(l[1]))).toEqual([a.seq, b.seq].sort((x, y) => x - y))
    expect(replayed).toContain('2 dead letters replayed')
    expect(await deadLetters(t.jsm, name)).toEqual([])
    expect(await output(prefix, 'a')).toEqual({ id: 'a', tag: 'v2' })
    expect(await output(prefix, 'b')).toEqual({ id: 'b', tag: 'v2' })
    await replica.waitFor((r) => r.msg === 'handled' && r.id === 'a', 'a handled')
    await consumerSettled(prefix, name)
    const republished = await t.jsm.streams.getMessage(prefix, { seq: Number(lines.find((l) => Number(l[1]) === a.seq)![3]) })
    expect(republished!.subject).toBe(`${prefix}.in.flaky`)
    expect(republished!.json()).toEqual({ id: 'a' })
    expect(republished!.header.get('X-Trace')).toBe('abc')
    expect(republished!.header.get('Nats-Msg-Id')).toMatch(new RegExp(`^replay:FN_DLQ:${a.seq}:\\d+$`))
    // Only the header naming the one function that runs it again.
    expect(republished!.header.keys().filter((k) => /^fn-/i.test(k))).toEqual(['Fn-Replay-For'])
    expect(republished!.header.get('Fn-Replay-For')).toBe(name)

    // replay --all of messages that fail again: each is replayed once (the walk stops at the dead
    // letters present when it began), and each comes back once.
    await t.js.publish(`${prefix}.in.flaky`, JSON.stringify({ id: 'e', mode: 'still-fails' }))
    await t.js.publish(`${prefix}.in.flaky`, JSON.stringify({ id: 'f', mode: 'still-fails' }))
    const failing = await waitForDeadLetters(name, 2)
    const redriven = await dlq(p, ['replay', name, '--all'])
    expect([...redriven.matchAll(/^replayed {2}dlq seq (\d+) /gm)].map((l) => Number(l[1]))).toEqual(failing.map((m) => m.seq))
    const returned = await waitForDeadLetters(name, 2)
    expect(returned.every((m) => m.seq > failing[1]!.seq && header(m, 'Fn-Deliveries') === '1')).toBe(true)
    expect(returned.map((m) => (m.json() as { id: string }).id).sort()).toEqual(['e', 'f'])

    // purge of everything: this function's dead letters only.
    expect(await dlq(p, ['purge', name])).toContain(`removed 2 dead letters of '${name}'`)
    expect(await deadLetters(t.jsm, name)).toEqual([])
    expect((await deadLetters(t.jsm, otherName)).map((m) => m.seq)).toEqual([otherLetter.seq])
    const [empty, emptyJson] = await Promise.all([dlq(p, ['ls', name]), dlq(p, ['ls', name, '--json'])])
    expect(empty).toContain(`no dead letters for '${name}' in FN_DLQ`)
    expect(emptyJson).toBe('[]\n')
  })
})
