/**
 * jetfn's roles against a real nats-server configured from `fn auth --json`'s own output: what a
 * role may not do is refused with one line naming the permission, and changes nothing; a
 * bind-only replica whose consumer is lost waits, not ready, until `fn deploy` makes it again.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { freePort, readyz } from '../helpers/readyz.ts'
import { startRoleServer, type RoleServer } from '../helpers/roles.ts'
import { ROLE_INBOX_PREFIX, ROLE_USER } from '../../runtime/auth/roles.ts'
import { deadLetters } from '../helpers/runtime.ts'

const prefix = uniquePrefix()
let project: DevProject
let s: RoleServer
let jsm: JetStreamManager
let replica: FnReplica
let httpPort: number

const work = `import { defineFunction, NonRetryableError } from 'jetfn'
export default defineFunction({
  subject: '${prefix}.in.work',
  async handler(event, ctx) {
    const d = event.data as { id: string; dead?: boolean }
    if (d.dead) throw new NonRetryableError('refused ' + d.id)
    await ctx.publish('${prefix}.out', { id: d.id })
  },
})
`

beforeAll(async () => {
  project = await writeDevProject({
    prefix,
    config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port: 0 }, shutdownGrace: '2s', pool: { threads: 1 } },
    functions: { 'work.ts': work },
  })
  httpPort = await freePort()
  s = await startRoleServer(project, { roleConfig: { replica: { http: { port: httpPort } } } })
  jsm = await jetstreamManager(s.admin)
  const deployed = await runFn(s.as.deployer, ['deploy'], s.server.url)
  expect(deployed.stderr).toBe('')
  expect(deployed.code).toBe(0)
  replica = spawnStart(s.as.replica, s.server.url, 'replica', ['--bind-only'])
  await replica.waitFor((r) => r.msg === 'function version live' && r.fn === 'work', 'work live')
  // One dead letter to refuse a purge or a replay of.
  await jetstream(s.admin).publish(`${prefix}.in.work`, JSON.stringify({ id: 'd1', dead: true }))
  await vi.waitFor(async () => expect(await deadLetters(jsm, 'work')).toHaveLength(1), { timeout: 15_000, interval: 100 })
})

afterAll(async () => {
  await replica?.[Symbol.asyncDispose]()
  await s?.stop()
  await project?.remove()
})

/** What a refused command must not change: the manifest, the consumer, the dead letters. */
async function state() {
  const kv = await new Kvm(s.admin).open('FN_FUNCTIONS')
  const manifest = (await kv.get('work'))?.json<{ version: string }>()
  const consumer = await jsm.consumers.info(prefix, 'fn_work')
  const dlq = (await deadLetters(jsm, 'work')).map((m) => m.seq)
  return { version: manifest?.version, consumer: { config: consumer.config, created: consumer.created }, dlq }
}

// A command's connection takes the inbox prefix of the role it needs (fn auth): a user of
// another role is refused there, before anything is sent.
const refusedInbox = (role: string) => new RegExp(`^FN_PERMISSION_DENIED: the NATS server refused to let this user subscribe to '_INBOX\\.jetfn\\.${role}\\.>' \\(replies to the '${role}' role\\)$`)

describe.each([
  ['replica', ['deploy']],
  ['replica', ['rm', 'work']],
  ['replica', ['dlq', 'purge', 'work']],
  ['viewer', ['deploy']],
  ['viewer', ['dlq', 'purge', 'work']],
  ['viewer', ['dlq', 'replay', 'work', '--all']],
] as const)('as the %s role, fn %j', (role, args) => {
  it('is refused with one line naming the permission, and nothing changes', async () => {
    const before = await state()
    const r = await runFn(s.as[role], [...args], s.server.url)
    expect(r.code).toBe(1)
    const lines = r.stderr.trim().split('\n')
    expect(lines[0]).toMatch(refusedInbox('deployer'))
    expect(lines.slice(1)).toEqual(["hint: the user lacks that permission; `fn auth` prints the permissions of each role (this command needs the 'deployer' role)"])
    expect(await state()).toEqual(before)
    // The server's own log says the same (and shows the e2e test's "no violation" can fail).
    await expect.poll(() => s.violations(), { timeout: 5_000 }).toContainEqual(expect.objectContaining({ kind: 'Subscription', user: ROLE_USER[role], subject: expect.stringMatching(/^_INBOX\.jetfn\.deployer\./) }))
  })
})

/** A connection as a role's user, with its own inbox prefix, as a client of the user's own would make it. */
async function connectAs(role: 'replica' | 'viewer') {
  const nc = await connect({ servers: s.server.url, user: ROLE_USER[role], pass: s.passwords[role], inboxPrefix: ROLE_INBOX_PREFIX[role], noAsyncTraces: true })
  return { nc, jsm: await jetstreamManager(nc), js: jetstream(nc) }
}

it.each([
  ['replica', 'write a manifest', (c: Awaited<ReturnType<typeof connectAs>>) => c.js.publish('$KV.FN_FUNCTIONS.work', '{}'), '$KV.FN_FUNCTIONS.work'],
  ['replica', 'create a consumer', (c: Awaited<ReturnType<typeof connectAs>>) => c.jsm.consumers.add(prefix, { durable_name: 'fn_work', ack_policy: AckPolicy.Explicit, filter_subject: `${prefix}.in.work` }), `$JS.API.CONSUMER.CREATE.${prefix}.fn_work.${prefix}.in.work`],
  ['replica', 'delete a consumer', (c: Awaited<ReturnType<typeof connectAs>>) => c.jsm.consumers.delete(prefix, 'fn_work'), `$JS.API.CONSUMER.DELETE.${prefix}.fn_work`],
  ['replica', 'create a stream', (c: Awaited<ReturnType<typeof connectAs>>) => c.jsm.streams.add({ name: `${prefix}_X`, subjects: [`${prefix}_x.>`] }), `$JS.API.STREAM.CREATE.${prefix}_X`],
  ['replica', 'purge the DLQ', (c: Awaited<ReturnType<typeof connectAs>>) => c.jsm.streams.purge('FN_DLQ'), '$JS.API.STREAM.PURGE.FN_DLQ'],
  ['viewer', 'write a manifest', (c: Awaited<ReturnType<typeof connectAs>>) => c.js.publish('$KV.FN_FUNCTIONS.work', '{}'), '$KV.FN_FUNCTIONS.work'],
  ['viewer', 'publish to a function', (c: Awaited<ReturnType<typeof connectAs>>) => c.js.publish(`${prefix}.in.work`, '{}'), `${prefix}.in.work`],
  ['viewer', 'delete a dead letter', (c: Awaited<ReturnType<typeof connectAs>>) => c.jsm.streams.deleteMessage('FN_DLQ', 1), '$JS.API.STREAM.MSG.DELETE.FN_DLQ'],
] as const)('with its own inbox prefix, the %s role may not %s', async (role, _what, act, subject) => {
  const before = await state()
  const c = await connectAs(role)
  try {
    // nats.js fails the request with the server's own words (a RequestError caused by a PermissionViolationError).
    await expect(act(c)).rejects.toThrow(`Permissions Violation for Publish to "${subject}"`)
    // The server logs it as it answers: the line may come a moment after the client's error.
    await expect.poll(() => s.violations(), { timeout: 5_000 }).toContainEqual(expect.objectContaining({ kind: 'Publish', user: ROLE_USER[role], subject }))
  } finally {
    await c.nc.close()
  }
  expect(await state()).toEqual(before)
})

it('the viewer reads what the refused commands would have changed', async () => {
  const ls = await runFn(s.as.viewer, ['ls', '--json'], s.server.url)
  expect(ls.stderr).toBe('')
  expect(JSON.parse(ls.stdout)).toMatchObject([{ name: 'work', stream: prefix, pending: 0, dlq: 1 }])
  const dlq = await runFn(s.as.viewer, ['dlq', 'ls', 'work', '--json'], s.server.url)
  expect(dlq.code).toBe(0)
  expect(JSON.parse(dlq.stdout)).toMatchObject([{ function: 'work', errorKind: 'non-retryable' }])
})

it('a bind-only replica whose consumer is lost waits, not ready, until fn deploy creates it again', async () => {
  expect((await readyz(httpPort)).status).toBe(200)
  await jsm.consumers.delete(prefix, 'fn_work')
  const gone = await replica.waitFor((r) => r.msg === 'consumer is gone and this replica is bind-only: waiting for `fn deploy` to create it again', 'consumer gone', 30_000)
  expect(gone).toMatchObject({ consumer: 'fn_work', stream: prefix })
  const notReady = await readyz(httpPort)
  expect(notReady.status).toBe(503)
  expect(notReady.body.problems).toContainEqual(expect.stringMatching(/^consumer fn_work of work does not exist on stream t_\w+: `fn deploy` creates it \(it was lost while running; last ack floor seen: \d+\)$/))
  // Waited for, not recreated: the consumer stays gone until a deploy.
  await expect(jsm.consumers.info(prefix, 'fn_work')).rejects.toThrow(/consumer not found/)

  const deployed = await runFn(s.as.deployer, ['deploy'], s.server.url)
  expect(deployed.code).toBe(0)
  expect(deployed.stdout).toMatch(/^work {2}unchanged {2}[0-9a-f]{12}\n {2}note: its consumer fn_work was gone and is created again at its startFrom/m)
  await replica.waitFor((r) => r.msg === 'consumer is back: pulling again', 'consumer back', 30_000)
  await expect.poll(async () => (await readyz(httpPort)).status, { timeout: 10_000 }).toBe(200)
  const ack = await jetstream(s.admin).publish(`${prefix}.in.work`, JSON.stringify({ id: 'after' }))
  await expect.poll(async () => (await jsm.streams.getMessage(prefix, { last_by_subj: `${prefix}.out` }).catch(() => null))?.json<{ id: string }>().id, { timeout: 15_000 }).toBe('after')
  expect(ack.seq).toBeGreaterThan(0)
  // Logged once, however long it waited.
  expect(replica.records().filter((r) => r.msg === 'consumer is gone and this replica is bind-only: waiting for `fn deploy` to create it again')).toHaveLength(1)
})

it('provision: false in fn.config.ts makes fn start bind-only, as --bind-only does', async () => {
  const configFile = join(project.dir, 'fn.replica-config.config.ts')
  await writeFile(configFile, `import base from './fn.replica.config.ts'\nexport default { ...base, provision: false, http: { port: 0 } }\n`)
  const earlier = s.violations().length
  const r = spawnStart({ ...project, configFile }, s.server.url, 'replica by config')
  try {
    const ready = await r.waitFor((x) => x.msg === 'replica ready', 'replica ready')
    expect(ready).toMatchObject({ bindOnly: true, functions: ['work'] })
  } finally {
    await r[Symbol.asyncDispose]()
  }
  expect(s.violations().slice(earlier)).toEqual([])
})

it('the deployer starts a fn replay (its consumer named at random, pinned to the function subject)', async () => {
  const earlier = s.violations().length
  const r = await runFn(s.as.deployer, ['replay', 'work', '--from-seq', '1', '--yes'], s.server.url)
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/^work {2}replay \w+ started on every replica \(consumer fn_work_replay\)$/m)
  expect(s.violations().slice(earlier)).toEqual([])
})
