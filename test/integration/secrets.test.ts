/**
 * Secrets stay secret: with distinctive values for every way to authenticate (a token and a
 * password in NATS_URL, in fn.config.ts and in NATS_TOKEN / NATS_PASSWORD, an NKey seed, a creds
 * file), each command is run to fail (wrong credentials, no server) with debug logs and
 * `--verbose`, and `fn dev` and `fn start` are run to succeed with a password in NATS_URL; nothing
 * any of them prints contains a secret. (The auth-*.test.ts files check the succeeding runs of
 * every method the same way.)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { makeNkeyUser, makeOperator } from '../helpers/auth-fixtures.ts'
import { expectNoSecrets } from '../helpers/auth-scenario.ts'
import { spawnDev, writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnResult } from '../helpers/fn-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

const secret = (kind: string) => `${kind}-${uniquePrefix()}-s3cret`
const TOKEN = secret('token')
const PASSWORD = secret('password')
const WRONG_TOKEN = secret('wrongtoken')
const WRONG_PASSWORD = secret('wrongpassword')
const nkeyUser = makeNkeyUser()
const stranger = makeNkeyUser()
const SECRETS = [TOKEN, PASSWORD, WRONG_TOKEN, WRONG_PASSWORD, nkeyUser.seed, stranger.seed]

let tokenServer: NatsServerProcess
let userServer: NatsServerProcess
let nkeyServer: NatsServerProcess
let operatorServer: NatsServerProcess
let dir: string
let strangerCreds: string
const projects: DevProject[] = []

beforeAll(async () => {
  const operator = await makeOperator()
  ;[tokenServer, userServer, nkeyServer, operatorServer] = await Promise.all([
    startServer({ extraConfig: `authorization { token: ${JSON.stringify(TOKEN)} }` }),
    startServer({ extraConfig: `authorization { users: [{ user: "app", password: ${JSON.stringify(PASSWORD)} }] }` }),
    startServer({ extraConfig: nkeyUser.serverConfig }),
    startServer({ extraConfig: operator.serverConfig }),
  ])
  dir = await mkdtemp(join(tmpdir(), 'jetfn-secrets-'))
  const creds = new TextDecoder().decode(await operator.strangerCreds())
  SECRETS.push(...creds.split('\n').map((l) => l.trim()).filter((l) => /^(SU|eyJ)/.test(l)))
  strangerCreds = join(dir, 'stranger.creds')
  await writeFile(strangerCreds, creds)
})

afterAll(async () => {
  for (const p of projects) await p.remove()
  if (dir) await rm(dir, { recursive: true, force: true })
  await Promise.all([tokenServer, userServer, nkeyServer, operatorServer].map((s) => s?.stop()))
})

async function project(nats: Record<string, unknown> = {}): Promise<DevProject> {
  const prefix = uniquePrefix()
  const p = await writeDevProject({
    prefix,
    config: { nats, streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port: 0 }, shutdownGrace: '5s', pool: { threads: 1 } },
    functions: { 'ok.ts': `import { defineFunction } from 'jetfn'\nexport default defineFunction({ name: '${prefix}_ok', subject: '${prefix}.in', async handler() {} })\n` },
  })
  projects.push(p)
  return p
}

/** A command to run to its failure: `start` and `dev` are long-running, the others finish. */
type Command = string[]

/**
 * Runs `commands` on one project at once, each to its failure with the most output it can give
 * (debug logs, `--verbose`), and returns what they printed.
 */
async function failEverywhere(p: DevProject, url: string, env: NodeJS.ProcessEnv, commands: Command[]): Promise<string[]> {
  const loud = { ...env, LOG_LEVEL: 'debug', DEBUG: '1' }
  return (
    await Promise.all(
      commands.map(async (args) => {
        const what = `fn ${args.join(' ')}`
        if (args[0] === 'start') {
          const replica = spawnStart(p, url, what, [], undefined, loud)
          expect(await replica.exited, what).toBe(1)
          return [replica.output()]
        }
        if (args[0] === 'dev') {
          const session = spawnDev(p, { url, env: loud, label: what })
          expect(await session.exited, what).toBe(1)
          return [session.output]
        }
        const r: FnResult = await runFn(p, [...args, '--verbose'], url, loud)
        expect(r.code, `${what}: ${r.stderr}`).toBe(1)
        expect(r.stderr).toMatch(/^FN_(NATS_AUTH_FAILED|NATS_UNAVAILABLE): /)
        return [r.stdout, r.stderr]
      }),
    )
  ).flat()
}

it('failing runs of every command print no token, password, seed or creds, whichever way they were given', { timeout: 120_000 }, async () => {
  const badUrl = (s: NatsServerProcess, userinfo: string) => s.url.replace('nats://', `nats://${userinfo}@`)
  const ls = ['ls']
  const start = ['start']
  const dev = ['dev']
  // Every CLI command connects through the same code: all of them run once, and one or two for
  // each other way to give credentials, beside the replica's start-up (fn start, fn dev).
  const cases: Array<[Record<string, unknown>, string, NodeJS.ProcessEnv, Command[]]> = [
    [{}, badUrl(userServer, `app:${WRONG_PASSWORD}`), {}, [ls, ['deploy'], ['invoke', 'x', '--data', '{}'], ['dlq', 'ls', 'x'], start, dev]],
    [{}, badUrl(tokenServer, WRONG_TOKEN), {}, [ls, start]],
    [{ token: WRONG_TOKEN }, tokenServer.url, {}, [ls, dev]],
    [{ user: 'app', pass: WRONG_PASSWORD }, userServer.url, {}, [['deploy'], start]],
    [{}, userServer.url, { NATS_USER: 'app', NATS_PASSWORD: WRONG_PASSWORD }, [ls, start]],
    [{ nkeySeed: stranger.seed }, nkeyServer.url, {}, [['deploy'], dev]],
    [{}, operatorServer.url, { NATS_CREDS: strangerCreds }, [ls, start]],
    // Right credentials, but no server there.
    [{}, `nats://app:${PASSWORD}@127.0.0.1:1`, {}, [ls, start, dev]],
    [{ servers: `nats://${TOKEN}@127.0.0.1:1` }, '', {}, [ls, start]],
  ]
  // One case at a time: the machine runs two test files at once on two cores.
  const printed: string[] = []
  for (const [nats, url, env, commands] of cases) printed.push(...(await failEverywhere(await project(nats), url, env, commands)))
  expect(printed.join('\n')).toContain('Authorization Violation')
  expectNoSecrets(printed, SECRETS)
})

it('fn start and fn dev with a password in NATS_URL show the URL without it', async () => {
  const p = await project()
  const url = userServer.url.replace('nats://', `nats://app:${PASSWORD}@`)
  const env = { LOG_LEVEL: 'debug' }
  const deployed = await runFn(p, ['deploy'], url, env)
  expect(deployed.code).toBe(0)
  const dev = spawnDev(p, { url, env })
  const ready = await dev.waitFor(/fn dev ready.*/)
  expect(ready[0]).toContain(`"url":"${userServer.url}"`)
  dev.kill('SIGINT')
  await dev.exited
  const replica = spawnStart(p, url, 'fn start', [], undefined, env)
  await replica.waitFor((r) => r.msg === 'replica ready', 'ready')
  replica.kill('SIGTERM')
  expect(await replica.exited).toBe(0)
  expectNoSecrets([deployed.stdout, deployed.stderr, dev.output, replica.output()], SECRETS)
})
