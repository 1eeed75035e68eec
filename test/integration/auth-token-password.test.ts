/**
 * Token and user/password authentication end to end (fn deploy, fn start, fn invoke, fn ls,
 * fn dlq ls, fn dev against the external server), from the environment (`NATS_TOKEN`, userinfo in
 * `NATS_URL`, `NATS_USER`/`NATS_PASSWORD`) and from fn.config.ts; refused credentials said in one
 * line with the code and the setting to fix; no secret printed by any of it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { expectEndToEnd, expectNoSecrets } from '../helpers/auth-scenario.ts'
import { writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

const TOKEN = `tok-${uniquePrefix()}-secret`
const PASSWORD = `pw-${uniquePrefix()}-secret`
const WRONG = `wrong-${uniquePrefix()}-secret`
const SECRETS = [TOKEN, PASSWORD, WRONG]

let tokenServer: NatsServerProcess
let userServer: NatsServerProcess
let project: DevProject

beforeAll(async () => {
  ;[tokenServer, userServer] = await Promise.all([
    startServer({ extraConfig: `authorization { token: ${JSON.stringify(TOKEN)} }` }),
    startServer({ extraConfig: `authorization { users: [{ user: "app", password: ${JSON.stringify(PASSWORD)} }] }` }),
  ])
  const prefix = uniquePrefix()
  project = await writeDevProject({ prefix, config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port: 0 } }, functions: {} })
})

afterAll(async () => {
  await project?.remove()
  await Promise.all([tokenServer?.stop(), userServer?.stop()])
})

/** `fn ls` on a project whose fn.config.ts has `nats`. */
async function lsWith(nats: Record<string, unknown>, url: string, env: NodeJS.ProcessEnv = {}) {
  const prefix = uniquePrefix()
  const p = await writeDevProject({ prefix, config: { nats, http: { port: 0 } }, functions: {} })
  try {
    return await runFn(p, ['ls'], url, env)
  } finally {
    await p.remove()
  }
}

it('token from NATS_TOKEN: every command and fn start / fn dev work; nothing prints it', async () => {
  const printed = await expectEndToEnd({ prefix: uniquePrefix(), url: tokenServer.url, env: { NATS_TOKEN: TOKEN }, admin: { servers: [tokenServer.url], token: TOKEN } })
  expectNoSecrets(printed, SECRETS)
})

it('user and password in NATS_URL: every command and fn start / fn dev work; nothing prints the password', async () => {
  const url = tokenlessUrl(userServer, 'app', PASSWORD)
  const printed = await expectEndToEnd({ prefix: uniquePrefix(), url, admin: { servers: [userServer.url], user: 'app', pass: PASSWORD } })
  expectNoSecrets(printed, SECRETS)
})

it('the same credentials work from fn.config.ts, NATS_USER/NATS_PASSWORD and a token in NATS_URL', async () => {
  const results = await Promise.all([
    lsWith({ token: TOKEN }, tokenServer.url),
    lsWith({ user: 'app', pass: PASSWORD }, userServer.url),
    lsWith({}, userServer.url, { NATS_USER: 'app', NATS_PASSWORD: PASSWORD }),
    lsWith({}, tokenServer.url.replace('nats://', `nats://${TOKEN}@`)),
    // The environment wins over the file.
    lsWith({ token: WRONG }, tokenServer.url, { NATS_TOKEN: TOKEN }),
  ])
  for (const r of results) {
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/^(NAME\s|no functions deployed)/)
    expect(r.code).toBe(0)
  }
  expectNoSecrets(results.flatMap((r) => [r.stdout, r.stderr]), SECRETS)
})

it('a wrong or missing token is refused in one line naming where it was set', async () => {
  const wrong = await runFn(project, ['ls'], tokenServer.url, { NATS_TOKEN: WRONG })
  expect(wrong.code).toBe(1)
  expect(wrong.stderr).toBe(
    `FN_NATS_AUTH_FAILED: NATS at ${tokenServer.url} refused the token (NATS_TOKEN): Authorization Violation\n` +
      'hint: the server does not accept this token: check NATS_TOKEN\n',
  )
  const none = await runFn(project, ['deploy'], tokenServer.url)
  expect(none.code).toBe(1)
  expect(none.stderr).toMatch(/^FN_NATS_AUTH_FAILED: NATS at nats:\/\/127\.0\.0\.1:\d+ refused a connection without credentials: Authorization Violation\nhint: the server requires credentials: set NATS_CREDS, NATS_NKEY, NATS_TOKEN or NATS_USER \+ NATS_PASSWORD/)
  expectNoSecrets([wrong.stdout, wrong.stderr, none.stdout, none.stderr], SECRETS)
})

it('fn start with a wrong password in NATS_URL exits 1 with one line that shows the URL without the password', async () => {
  const url = tokenlessUrl(userServer, 'app', WRONG)
  const replica = spawnStart(project, url, 'fn start', [], undefined, { LOG_LEVEL: 'debug' })
  expect(await replica.exited).toBe(1)
  expect(replica.stderr()).toBe(
    `FN_NATS_AUTH_FAILED: NATS at ${userServer.url} refused user 'app' and its password (the userinfo of NATS_URL): Authorization Violation\n` +
      'hint: the server does not accept this user and password: check the userinfo of NATS_URL\n',
  )
  expectNoSecrets([replica.output()], SECRETS)
})

function tokenlessUrl(server: NatsServerProcess, user: string, pass: string): string {
  return server.url.replace('nats://', `nats://${user}:${encodeURIComponent(pass)}@`)
}
