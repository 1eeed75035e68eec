/**
 * A replica with only the `replica` permissions of `fn auth` does all its work: on a nats-server
 * whose users are built from `fn auth --json`, a `fn start --bind-only` replica waits for the
 * first deploy, then pulls, acks, retries, dead-letters (a payload too big for one message too,
 * through Object Store), publishes outputs, follows a new deploy, and serves `fn logs` to a
 * viewer; a deployer deploys, replays, purges and removes; a viewer lists and reads. The server
 * logs no permission violation throughout, and a ledger accounts for every message.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { spawn } from 'node:child_process'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream'
import { Objm } from '@nats-io/obj'
import { writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { freePort, readyz } from '../helpers/readyz.ts'
import { startRoleServer, type RoleServer } from '../helpers/roles.ts'
import { deadLetters, nextBySubject } from '../helpers/runtime.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const prefix = uniquePrefix()
const input = `${prefix}.in.work`
const output = `${prefix}.out`
/** The server's max_payload: small, so that a dead letter of a large payload needs Object Store. */
const MAX_PAYLOAD = 64 * 1024

let project: DevProject
let s: RoleServer
let jsm: JetStreamManager
let js: JetStreamClient
let replica: FnReplica
let httpPort: number

/**
 * `work` on version `tag`: outputs `{ id, tag }`; `dead` is refused at once; `flaky` fails its
 * first delivery; `v1-bug` fails on v1 (dead-lettered after 2 deliveries) and works from v2 on.
 */
function work(tag: string): string {
  return `import { defineFunction, NonRetryableError } from 'jetfn'
export default defineFunction({
  subject: '${input}',
  retry: { maxDeliver: 2, backoff: ['50ms'], jitter: 0 },
  // Far above what the test sends: only so that the replica takes tokens in FN_RATES under its role.
  rateLimit: { limit: 10000, per: '1s' },
  async handler(event, ctx) {
    const d = event.data as { id: string; mode?: string }
    ctx.log.info({ id: d.id, tag: '${tag}' }, 'handled')
    if (d.mode === 'dead') throw new NonRetryableError('refused ' + d.id)
    if (d.mode === 'flaky' && event.deliveries === 1) throw new Error('flaky ' + d.id)
    if (d.mode === 'v1-bug' && '${tag}' === 'v1') throw new Error('bug in v1')
    await ctx.publish('${output}', { id: d.id, tag: '${tag}' })
  },
})
`
}

const extra = `import { defineFunction } from 'jetfn'
export default defineFunction({ subject: '${prefix}.in.extra', async handler() {} })
`

beforeAll(async () => {
  project = await writeDevProject({
    prefix,
    config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port: 0 }, shutdownGrace: '2s', pool: { threads: 2 } },
    functions: { 'work.ts': work('v1'), 'extra.ts': extra },
  })
  httpPort = await freePort()
  s = await startRoleServer(project, { extraConfig: `max_payload: ${MAX_PAYLOAD}`, roleConfig: { replica: { http: { port: httpPort } } } })
  jsm = await jetstreamManager(s.admin)
  js = jetstream(s.admin)
})

afterAll(async () => {
  await replica?.[Symbol.asyncDispose]()
  await s?.stop()
  await project?.remove()
})

const live = (fn: string, version?: string) => (r: Record<string, unknown>) => r.msg === 'function version live' && r.fn === fn && (version === undefined || r.version === version.slice(0, 12))

/** Runs a command as a role; fails the test with its stderr unless it exits 0. */
async function fn(role: 'deployer' | 'viewer', args: string[]): Promise<string> {
  const r = await runFn(s.as[role], args, s.server.url)
  expect(r.stderr, `fn ${args.join(' ')} as ${role}`).toBe('')
  expect(r.code).toBe(0)
  return r.stdout
}

/** Published messages by id: their stream sequence. */
const published = new Map<string, number>()
async function publish(id: string, body: unknown = { id }): Promise<number> {
  const ack = await js.publish(input, typeof body === 'string' ? body : JSON.stringify(body))
  published.set(id, ack.seq)
  return ack.seq
}

/** Every output stored, as `{ id, tag }`, with the source sequence from its `Nats-Msg-Id`. */
async function outputs(): Promise<Array<{ id: string; tag: string; sourceSeq: number }>> {
  const out: Array<{ id: string; tag: string; sourceSeq: number }> = []
  for (let seq = 1; ; ) {
    const m: StoredMsg | null = await jsm.streams.getMessage(prefix, nextBySubject(output, seq)).catch(() => null)
    if (!m) return out
    out.push({ ...m.json<{ id: string; tag: string }>(), sourceSeq: Number(m.header.get('Nats-Msg-Id').split(':')[2]) })
    seq = m.seq + 1
  }
}

const sourceSeqs = async (): Promise<number[]> => (await deadLetters(jsm, 'work')).map((m) => Number(m.header.get('Fn-Source-Seq')))

it('a bind-only replica started before the first deploy waits, not ready, and runs what a deployer then deploys', async () => {
  // Run from the project's directory: its bundle cache is not the deployer's, so bundles come from FN_BUNDLES.
  replica = spawnStart(s.as.replica, s.server.url, 'replica', ['--bind-only'], project.dir)
  await replica.waitFor((r) => r.msg === 'the registry does not exist yet and this replica is bind-only: waiting for `fn deploy` to create it', 'waiting for the registry')
  await expect.poll(async () => (await readyz(httpPort)).status, { timeout: 15_000 }).toBe(503)
  expect((await readyz(httpPort)).body.problems).toContainEqual(expect.stringMatching(/^not following the registry: the registry \(KV FN_FUNCTIONS\) does not exist yet: `fn deploy` creates it/))

  const out = await fn('deployer', ['deploy'])
  expect(out).toMatch(/^work {2}created {2}[0-9a-f]{12}/m)
  expect(out).toMatch(/^extra {2}created {2}[0-9a-f]{12}/m)
  await replica.waitFor(live('work'), 'work live', 30_000)
  await replica.waitFor(live('extra'), 'extra live', 30_000)
  await expect.poll(async () => (await readyz(httpPort)).body, { timeout: 15_000 }).toEqual({ ready: true, problems: [] })
  // Bind-only: it created nothing itself.
  expect(replica.records().filter((r) => /^(consumer created|consumer updated|stream created|stream updated|stream replicas raised)$/.test(String(r.msg)))).toEqual([])
})

it('it pulls, acks, retries, dead-letters (a large payload through Object Store) and publishes outputs', async () => {
  for (let i = 0; i < 5; i++) await publish(`ok${i}`)
  await publish('flaky', { id: 'flaky', mode: 'flaky' })
  await publish('dead', { id: 'dead', mode: 'dead' })
  await publish('v1-bug', { id: 'v1-bug', mode: 'v1-bug' })
  await publish('not-json', 'this is not JSON')
  // Under max_payload alone, over it with the dead letter's headers: its payload goes to FN_DLQ_PAYLOADS.
  await publish('big', { id: 'big', mode: 'dead', pad: 'x'.repeat(MAX_PAYLOAD - 700) })

  await expect.poll(async () => (await outputs()).map((o) => o.id).sort(), { timeout: 20_000 }).toEqual(['flaky', 'ok0', 'ok1', 'ok2', 'ok3', 'ok4'])
  const dead = ['dead', 'v1-bug', 'not-json', 'big'].map((id) => published.get(id)!)
  await expect.poll(async () => (await sourceSeqs()).sort((a, b) => a - b), { timeout: 20_000 }).toEqual(dead.sort((a, b) => a - b))
  const letters = await deadLetters(jsm, 'work')
  const kinds = Object.fromEntries(letters.map((m) => [Number(m.header.get('Fn-Source-Seq')), m.header.get('Fn-Error-Kind')]))
  expect(kinds).toEqual({ [published.get('dead')!]: 'non-retryable', [published.get('v1-bug')!]: 'error', [published.get('not-json')!]: 'decode', [published.get('big')!]: 'non-retryable' })
  const big = letters.find((m) => Number(m.header.get('Fn-Source-Seq')) === published.get('big'))!
  expect(big.header.get('Fn-Payload-Object')).toBe(`dlq:work:${prefix}:${published.get('big')}`)
  const stored = await (await new Objm(s.admin).open('FN_DLQ_PAYLOADS')).getBlob(big.header.get('Fn-Payload-Object'))
  expect(stored?.length).toBeGreaterThan(MAX_PAYLOAD - 700)
})

it('a viewer lists functions and reads dead letters, the large one from Object Store', async () => {
  const ls = JSON.parse(await fn('viewer', ['ls', '--json'])) as Array<Record<string, unknown>>
  expect(ls.map((f) => [f.name, f.dlq])).toEqual([
    ['extra', 0],
    ['work', 4],
  ])
  const dlq = JSON.parse(await fn('viewer', ['dlq', 'ls', 'work', '--json'])) as Array<{ seq: number; errorKind: string; sourceSeq: number }>
  const kind = (id: string) => dlq.find((d) => d.sourceSeq === published.get(id))?.errorKind
  expect(['dead', 'v1-bug', 'not-json', 'big'].map(kind)).toEqual(['non-retryable', 'error', 'decode', 'non-retryable'])
  const big = dlq.find((d) => d.sourceSeq === published.get('big'))!
  const show = await fn('viewer', ['dlq', 'show', 'work', String(big.seq)])
  expect(show).toMatch(/^payload \(json, \d+ bytes, kept in Object Store as 'dlq:work:t_\w+:\d+'\):$/m)
})

it('a viewer follows the replica with fn logs', async () => {
  const child = spawn(process.execPath, ['bin/fn.js', 'logs', 'work', '--json', '--config', s.as.viewer.configFile], { cwd: ROOT, env: { ...process.env, NATS_URL: s.server.url } })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (err += c.toString()))
  try {
    await expect.poll(() => err, { timeout: 15_000 }).toContain('following work on 1 replica')
    await publish('logged')
    const records = () => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    await expect.poll(() => records().some((r) => r.type === 'event' && r.outcome === 'ok' && r.seq === published.get('logged')), { timeout: 15_000 }).toBe(true)
    await expect.poll(() => records().some((r) => r.type === 'log' && r.msg === 'handled' && r.id === 'logged'), { timeout: 15_000 }).toBe(true)
  } finally {
    child.kill('SIGINT')
  }
  const [code] = await once(child, 'exit')
  expect(code).toBe(0)
})

it('it follows a deploy and a rollback by the deployer; the deployer replays, purges, invokes and removes', async () => {
  await writeFile(join(project.functionsDir, 'work.ts'), work('v2'))
  const deployed = await fn('deployer', ['deploy', 'work'])
  const v2 = /^work {2}updated {2}[0-9a-f]{12} -> ([0-9a-f]{12})/m.exec(deployed)?.[1]
  expect(v2).toBeDefined()
  await replica.waitFor(live('work', v2), 'work v2 live', 30_000)

  const dlq = JSON.parse(await fn('viewer', ['dlq', 'ls', 'work', '--json'])) as Array<{ seq: number; errorKind: string; sourceSeq: number }>
  const bySource = new Map(dlq.map((d) => [d.sourceSeq, d.seq]))
  // v2 fixes the bug: its dead letter is replayed and now succeeds.
  expect(await fn('deployer', ['dlq', 'replay', 'work', '--seq', String(bySource.get(published.get('v1-bug')!))])).toMatch(/^1 dead letter replayed$/m)
  await expect.poll(async () => (await outputs()).find((o) => o.id === 'v1-bug')?.tag, { timeout: 20_000 }).toBe('v2')
  // The one that can never work is purged.
  expect(await fn('deployer', ['dlq', 'purge', 'work', '--seq', String(bySource.get(published.get('not-json')!))])).toContain("removed 1 dead letter of 'work'")
  await publish('after-v2')
  await expect.poll(async () => (await outputs()).find((o) => o.id === 'after-v2')?.tag, { timeout: 20_000 }).toBe('v2')
  // fn invoke publishes as the deployer and follows the replica's events.
  const invoked = await fn('deployer', ['invoke', 'work', '--data', '{"id":"invoked"}'])
  expect(invoked).toMatch(/^ok in \d+(\.\d\d)? ms \(seq (\d+), delivery 1, version [0-9a-f]{12}, replica [^)]+\)$/m)
  published.set('invoked', Number(/^published to \S+ \(stream \S+, seq (\d+)\)$/m.exec(invoked)![1]))

  // Pause and resume are the deployer's.
  expect(await fn('deployer', ['pause', 'work'])).toMatch(/^work {2}paused until fn resume/m)
  expect(await fn('deployer', ['resume', 'work'])).toMatch(/^work {2}resumed$/m)

  // A rollback makes the consumer match the old version, and the replica follows it.
  expect(await fn('deployer', ['rollback', 'work'])).toMatch(new RegExp(`^work {2}rolled back {2}${v2} -> [0-9a-f]{12}`, 'm'))
  await replica.waitFor((r) => r.msg === 'function version live' && r.fn === 'work' && r.previous === v2, 'work rolled back', 30_000)

  expect(await fn('deployer', ['rm', 'extra'])).toMatch(/^extra {2}removed/m)
  await replica.waitFor((r) => r.msg === 'function removed' && r.fn === 'extra', 'extra removed', 30_000)
  await expect(jsm.consumers.info(prefix, 'fn_extra')).rejects.toThrow(/consumer not found/)
})

it('the ledger: every message has one output or one dead letter, nothing is pending, and no permission was refused', async () => {
  const outs = await outputs()
  const dead = await sourceSeqs()
  const replayed = outs.find((o) => o.id === 'v1-bug')!.sourceSeq
  const fate = (seq: number): string => {
    const o = outs.filter((x) => x.sourceSeq === seq).length
    const d = dead.filter((x) => x === seq).length
    return o === 1 && d === 0 ? 'output' : o === 0 && d === 1 ? 'dead letter' : `${o} outputs, ${d} dead letters`
  }
  const ledger = Object.fromEntries([...published].map(([id, seq]) => [id, fate(seq)]))
  expect(ledger).toEqual({
    ok0: 'output',
    ok1: 'output',
    ok2: 'output',
    ok3: 'output',
    ok4: 'output',
    flaky: 'output',
    dead: 'dead letter',
    // Dead-lettered on v1; its replay is a new message of the stream, which v2 ran once.
    'v1-bug': '0 outputs, 0 dead letters',
    // Purged by the deployer.
    'not-json': '0 outputs, 0 dead letters',
    big: 'dead letter',
    logged: 'output',
    'after-v2': 'output',
    invoked: 'output',
  })
  expect(fate(replayed)).toBe('output')
  expect(replayed).toBeGreaterThan(published.get('v1-bug')!)
  // Every message of the input subject is in the ledger: the ones published, and the replay.
  const info = await jsm.streams.info(prefix, { subjects_filter: input })
  expect(info.state.subjects?.[input]).toBe(published.size + 1)
  await expect
    .poll(async () => {
      const c = await jsm.consumers.info(prefix, 'fn_work')
      return { pending: c.num_pending, inFlight: c.num_ack_pending }
    }, { timeout: 15_000 })
    .toEqual({ pending: 0, inFlight: 0 })
  expect(s.violations()).toEqual([])
  expect(replica.records().filter((r) => r.msg === 'the NATS server refused a permission this replica needs: see `fn auth` (role replica)')).toEqual([])
})
