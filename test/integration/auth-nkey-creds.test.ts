/**
 * NKey and creds-file (operator mode: an operator/account/user JWT chain, memory resolver)
 * authentication end to end (fn deploy, fn start, fn invoke, fn ls, fn dlq ls, fn dev against the
 * external server), from the environment (`NATS_NKEY`, `NATS_CREDS`) and from fn.config.ts;
 * refusals (unknown NKey, expired or unknown user JWT, a bad file) said in one line naming the
 * setting; no seed nor creds content printed by any of it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connectNats } from '../../runtime/nats/connect.ts'
import { makeNkeyUser, makeOperator, type OperatorSetup } from '../helpers/auth-fixtures.ts'
import { expectEndToEnd, expectNoSecrets } from '../helpers/auth-scenario.ts'
import { okFunctionSource, writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { freePort, readyz } from '../helpers/readyz.ts'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

const nkeyUser = makeNkeyUser()
const stranger = makeNkeyUser()
let operator: OperatorSetup
let nkeyServer: NatsServerProcess
let operatorServer: NatsServerProcess
let project: DevProject
let dir: string
const files = { seed: '', strangerSeed: '', creds: '', expired: '', unknown: '', garbage: '' }
const secrets: string[] = [nkeyUser.seed, stranger.seed]

/** The seed and the JWT of a creds file: both count as secrets here. */
function credsSecrets(creds: Uint8Array): string[] {
  const text = new TextDecoder().decode(creds)
  return text.split('\n').filter((l) => /^(SU|eyJ)/.test(l.trim())).map((l) => l.trim())
}

beforeAll(async () => {
  operator = await makeOperator()
  ;[nkeyServer, operatorServer] = await Promise.all([startServer({ extraConfig: nkeyUser.serverConfig }), startServer({ extraConfig: operator.serverConfig })])
  dir = await mkdtemp(join(tmpdir(), 'jetfn-creds-'))
  const creds = await operator.creds('replica')
  const expired = await operator.creds('retired', { expiresAt: new Date(Date.now() - 60_000) })
  const unknown = await operator.strangerCreds()
  secrets.push(...[creds, expired, unknown].flatMap(credsSecrets))
  const put = async (name: keyof typeof files, content: string | Uint8Array) => {
    files[name] = join(dir, name)
    await writeFile(files[name], content)
  }
  await Promise.all([
    put('seed', `${nkeyUser.seed}\n`),
    put('strangerSeed', stranger.seed),
    put('creds', creds),
    put('expired', expired),
    put('unknown', unknown),
    put('garbage', `-----BEGIN NATS USER JWT-----\n${stranger.seed}\n`),
  ])
  const prefix = uniquePrefix()
  project = await writeDevProject({ prefix, config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port: 0 } }, functions: {} })
})

afterAll(async () => {
  await project?.remove()
  if (dir) await rm(dir, { recursive: true, force: true })
  await Promise.all([nkeyServer?.stop(), operatorServer?.stop()])
})

it('NKey seed file from NATS_NKEY: every command and fn start / fn dev work; nothing prints the seed', async () => {
  const printed = await expectEndToEnd({ prefix: uniquePrefix(), url: nkeyServer.url, env: { NATS_NKEY: files.seed }, admin: { servers: [nkeyServer.url], nkeySeed: nkeyUser.seed } })
  expectNoSecrets(printed, secrets)
})

it('creds file from NATS_CREDS on an operator-mode server: every command and fn start / fn dev work; nothing prints it', async () => {
  const printed = await expectEndToEnd({ prefix: uniquePrefix(), url: operatorServer.url, env: { NATS_CREDS: files.creds }, admin: { servers: [operatorServer.url], credsFile: files.creds } })
  expectNoSecrets(printed, secrets)
})

it('the same credentials work from fn.config.ts: nkeySeed, nkeySeedFile, credsFile', async () => {
  const results = await Promise.all([
    lsWith({ nkeySeed: nkeyUser.seed }, nkeyServer.url),
    lsWith({ nkeySeedFile: files.seed }, nkeyServer.url),
    lsWith({ credsFile: files.creds }, operatorServer.url),
  ])
  for (const r of results) {
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  }
  expectNoSecrets(results.flatMap((r) => [r.stdout, r.stderr]), secrets)
})

it('an NKey the server does not know is refused, naming its public key and where it was set', async () => {
  const r = await runFn(project, ['ls'], nkeyServer.url, { NATS_NKEY: files.strangerSeed })
  expect(r.code).toBe(1)
  expect(r.stderr).toBe(
    `FN_NATS_AUTH_FAILED: NATS at ${nkeyServer.url} refused NKey user ${stranger.publicKey} (NATS_NKEY): Authorization Violation\n` +
      `hint: the server does not know NKey user ${stranger.publicKey}: add it to the server's authorization users, or check NATS_NKEY\n`,
  )
  expectNoSecrets([r.stdout, r.stderr], secrets)
})

it('an expired user JWT is refused with its expiry; an account the server does not know, with the resolver hint', async () => {
  const expired = spawnStart(project, operatorServer.url, 'fn start', [], undefined, { NATS_CREDS: files.expired })
  expect(await expired.exited).toBe(1)
  expect(expired.stderr()).toMatch(
    new RegExp(
      `^FN_NATS_AUTH_FAILED: NATS at ${operatorServer.url} refused the credentials of user 'retired' U[A-Z2-7]{55} \\(NATS_CREDS\\): Authorization Violation\n` +
        'hint: the user JWT expired at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: generate new credentials \\(`nsc generate creds`\\) for NATS_CREDS\n$',
    ),
  )
  const unknown = await runFn(project, ['deploy'], operatorServer.url, { NATS_CREDS: files.unknown })
  expect(unknown.code).toBe(1)
  expect(unknown.stderr).toMatch(/^FN_NATS_AUTH_FAILED: .* refused the credentials of user 'stranger' U\w+ \(NATS_CREDS\): Authorization Violation\nhint: the server does not accept this user: its account must be known to the server's resolver/)
  expectNoSecrets([expired.output(), unknown.stdout, unknown.stderr], secrets)
})

it('a missing or unparsable creds or seed file is a config error naming the setting and the file', async () => {
  const [missing, garbage, notSeed] = await Promise.all([
    runFn(project, ['ls'], operatorServer.url, { NATS_CREDS: join(dir, 'nope.creds') }),
    lsWith({ credsFile: files.garbage }, operatorServer.url),
    lsWith({ nkeySeedFile: files.creds }, nkeyServer.url),
  ])
  expect(missing.stderr).toBe(`FN_CONFIG_INVALID: NATS_CREDS: cannot read '${join(dir, 'nope.creds')}' (no such file)\nhint: paths are relative to the working directory\n`)
  expect(garbage.stderr).toMatch(new RegExp(`^FN_CONFIG_INVALID: .*fn\\.config\\.ts: 'nats\\.credsFile': '${files.garbage}' is not a NATS credentials file: it needs a user JWT block and an NKey seed block\n`))
  expect(notSeed.stderr).toMatch(new RegExp(`^FN_CONFIG_INVALID: .*fn\\.config\\.ts: 'nats\\.nkeySeedFile': '${files.creds}' is not a valid NKey seed`))
  for (const r of [missing, garbage, notSeed]) expect(r.code).toBe(1)
  expectNoSecrets([missing, garbage, notSeed].flatMap((r) => [r.stdout, r.stderr]), secrets)
})

/** `fn ls` on a project whose fn.config.ts has `nats`. */
async function lsWith(nats: Record<string, unknown>, url: string, env: NodeJS.ProcessEnv = {}) {
  const p = await writeDevProject({ prefix: uniquePrefix(), config: { nats, http: { port: 0 } }, functions: {} })
  try {
    return await runFn(p, ['ls'], url, env)
  } finally {
    await p.remove()
  }
}

it('a user JWT that expires under a running replica: not ready, saying why, and serving again once the creds file is renewed', async () => {
  const prefix = uniquePrefix()
  const port = await freePort()
  const rotating = join(dir, 'rotating.creds')
  await writeFile(rotating, await operator.creds('rotating', { expiresAt: new Date(Date.now() + 6_000) }))
  const p = await writeDevProject({ prefix, config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port }, pool: { threads: 1 } }, functions: { 'ok.ts': okFunctionSource(prefix) } })
  try {
    expect((await runFn(p, ['deploy'], operatorServer.url, { NATS_CREDS: files.creds })).code).toBe(0)
    const replica = spawnStart(p, operatorServer.url, 'fn start', [], undefined, { NATS_CREDS: rotating })
    try {
      await replica.waitFor((r) => r.msg === 'function version live', 'live')
      await expect.poll(async () => (await readyz(port)).status, { timeout: 10_000 }).toBe(200)
      // The JWT expires: the server drops the replica and refuses it from then on.
      await expect.poll(async () => (await readyz(port)).body.problems.join('; '), { timeout: 20_000, interval: 250 }).toMatch(/^not connected to NATS: the server refuses this replica's credentials \(.*(expired|authorization violation).*\)/i)
      expect(replica.records().filter((r) => typeof r.msg === 'string' && r.msg.startsWith("NATS refused this replica's credentials")).length).toBeGreaterThanOrEqual(1)
      // Renewed on disk (as a mounted Secret is): the next reconnect reads it, and the replica serves.
      await writeFile(rotating, await operator.creds('rotating'))
      await expect.poll(async () => (await readyz(port)).status, { timeout: 20_000, interval: 250 }).toBe(200)
      const admin = await connectNats({ servers: [operatorServer.url], credsFile: files.creds })
      try {
        await jetstream(admin).publish(`${prefix}.in.ok`, '{}')
        const jsm = await jetstreamManager(admin)
        await expect.poll(async () => {
          const info = await jsm.consumers.info(prefix, `fn_${prefix}_ok`)
          return [info.num_pending, info.num_ack_pending, info.ack_floor.stream_seq > 0]
        }, { timeout: 20_000 }).toEqual([0, 0, true])
      } finally {
        await admin.close()
      }
      expectNoSecrets([...replica.records().map((r) => JSON.stringify(r)), replica.stderr()], secrets)
    } finally {
      replica.kill('SIGTERM')
      await replica.exited
    }
  } finally {
    await p.remove()
  }
}, 90_000)
