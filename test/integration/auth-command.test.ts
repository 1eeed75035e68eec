/**
 * `fn auth` as a user runs it: the nats-server config it prints is one the server accepts (with
 * the passwords in its environment), the nsc commands name each role, a function whose stream is
 * only on the server is looked up there, and a project that does not build is refused as
 * `fn deploy` refuses it.
 */
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'
import type { RolePermissionSet } from '../../runtime/auth/role-permissions.ts'
import { findNatsServer } from '../../runtime/nats/nats-server-bin.ts'
import { runFn } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()
const exec = promisify(execFile)

const fnSource = (subject: string) => `import { defineFunction } from 'jetfn'
export default defineFunction({ subject: '${subject}', async handler() {} })
`

it('prints a nats-server config the server accepts once the passwords are in its environment', async () => {
  const prefix = uniquePrefix()
  const p = await t.project(prefix, { 'work.ts': fnSource(`${prefix}.in.work`) })
  const r = await runFn(p, ['auth'], t.server.url)
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/^# jetfn roles for this project \(fn auth\): functions work; streams t_\w+, FN_DLQ\.$/m)
  const file = join(p.dir, 'roles.conf')
  await writeFile(file, r.stdout)
  const bin = (await findNatsServer()).path
  const passwords = { JETFN_REPLICA_PASSWORD: 'r', JETFN_DEPLOYER_PASSWORD: 'd', JETFN_VIEWER_PASSWORD: 'v' }
  const ok = await exec(bin, ['-t', '-c', file], { env: { ...process.env, ...passwords } })
  expect(ok.stderr + ok.stdout).toMatch(/configuration file .* is valid/)
  await expect(exec(bin, ['-t', '-c', file], { env: { ...process.env, JETFN_REPLICA_PASSWORD: '', JETFN_DEPLOYER_PASSWORD: 'd' } })).rejects.toMatchObject({
    stderr: expect.stringContaining("variable reference for 'JETFN_VIEWER_PASSWORD'"),
  })
})

it('prints one nsc add user per role, and refuses --json with --nsc', async () => {
  const prefix = uniquePrefix()
  const p = await t.project(prefix, { 'work.ts': fnSource(`${prefix}.in.work`) })
  const r = await runFn(p, ['auth', '--nsc'], t.server.url)
  expect(r.code).toBe(0)
  expect(r.stdout.match(/^nsc add user --name jetfn-(replica|deployer|viewer) \\$/gm)).toEqual([
    'nsc add user --name jetfn-replica \\',
    'nsc add user --name jetfn-deployer \\',
    'nsc add user --name jetfn-viewer \\',
  ])
  const both = await runFn(p, ['auth', '--json', '--nsc'], t.server.url)
  expect(both.code).toBe(1)
  expect(both.stderr.split('\n')[0]).toBe('FN_USAGE_INVALID: give at most one of --json and --nsc')
})

it('finds on the server the stream of a subject fn.config.ts does not list, as fn deploy does', async () => {
  const prefix = uniquePrefix()
  await t.jsm.streams.add({ name: `${prefix}_EXT`, subjects: [`${prefix}_ext.>`] })
  const p = await t.project(prefix, { 'work.ts': fnSource(`${prefix}.in.work`), 'ext.ts': fnSource(`${prefix}_ext.in`) })
  const r = await runFn(p, ['auth', '--json'], t.server.url)
  expect(r.stderr).toBe('')
  const set = JSON.parse(r.stdout) as RolePermissionSet
  expect(set.replica.publish).toEqual(expect.arrayContaining([`$JS.API.CONSUMER.MSG.NEXT.${prefix}_EXT.fn_ext`, `${prefix}_ext.>`, `$JS.API.CONSUMER.MSG.NEXT.${prefix}.fn_work`]))
  expect(set.deployer.publish).toEqual(expect.arrayContaining(['$JS.API.STREAM.NAMES', `$JS.API.STREAM.INFO.${prefix}_EXT`]))
  // The server's stream is read, never changed.
  expect(set.deployer.publish).not.toContain(`$JS.API.STREAM.UPDATE.${prefix}_EXT`)
})

it('refuses a project that does not build, naming the file, as fn deploy does', async () => {
  const prefix = uniquePrefix()
  const p = await t.project(prefix, { 'bad.ts': `import { defineFunction } from 'jetfn'\nexport default defineFunction({ subject: '${prefix}.in', retry: { maxDeliver: 0 }, async handler() {} })\n` })
  const r = await runFn(p, ['auth'], t.server.url)
  expect(r.code).toBe(1)
  expect(r.stderr.split('\n')[0]).toMatch(/^FN_FUNCTION_INVALID: .*bad\.ts: 'retry\.maxDeliver' must be at least 1 \(got 0\)$/)
  expect(r.stdout).toBe('')
})

it('needs no server when every function is in a configured stream', async () => {
  const prefix = uniquePrefix()
  const p = await t.project(prefix, { 'work.ts': fnSource(`${prefix}.in.work`) })
  const r = await runFn(p, ['auth', '--json'], 'nats://127.0.0.1:1')
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  expect(Object.keys(JSON.parse(r.stdout) as object)).toEqual(['replica', 'deployer', 'viewer'])
})
