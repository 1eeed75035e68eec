/**
 * Handlers are contained as DESIGN says: their `process.env` (in the replica's worker threads, and
 * at deploy when their module is first imported) holds only what `pool.env` allows, and never the
 * replica's NATS credentials, even through a pattern.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { connectNats } from '../../runtime/nats/connect.ts'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { writeDevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

const TOKEN = `tok-${uniquePrefix()}-secret`
let server: NatsServerProcess
let admin: NatsConnection
let jsm: JetStreamManager
let dir: string

beforeAll(async () => {
  server = await startServer({ extraConfig: `authorization { token: ${JSON.stringify(TOKEN)} }` })
  admin = await connectNats({ servers: [server.url], token: TOKEN })
  jsm = await jetstreamManager(admin)
  dir = await mkdtemp(join(tmpdir(), 'jetfn-handler-env-'))
})

afterAll(async () => {
  await admin?.close()
  await server?.stop()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** The replica's environment: its credentials in NATS_URL, a copy of the token, and a variable for handlers. */
const replicaEnv = () => ({ APP_VISIBLE: 'yes', APP_TOKEN_COPY: TOKEN, OTHER_VARIABLE: 'other', NODE_ENV: 'production' })
const url = () => server.url.replace('nats://', `nats://${TOKEN}@`)

/**
 * Deploys a function that records `process.env` when its module is imported (to a file) and when
 * it runs (as an output message), runs it on a `fn start` replica, and returns both.
 */
async function handlerSees(pool: Record<string, unknown>): Promise<{ atImport: Record<string, string>; atRun: Record<string, string>; replicaLog: Array<Record<string, unknown>> }> {
  const prefix = uniquePrefix()
  const importLog = join(dir, `${prefix}.jsonl`)
  const project = await writeDevProject({
    prefix,
    config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port: 0 }, shutdownGrace: '5s', pool: { threads: 1, ...pool } },
    functions: {
      'env.ts': `import { appendFileSync } from 'node:fs'
import { defineFunction } from 'jetfn'
appendFileSync(${JSON.stringify(importLog)}, JSON.stringify({ ...process.env }) + '\\n')
export default defineFunction({ name: '${prefix}_env', subject: '${prefix}.in', async handler(_event, ctx) { ctx.publish('${prefix}.out', { ...process.env }) } })
`,
    },
  })
  try {
    const deployed = await runFn(project, ['deploy'], url(), replicaEnv())
    expect(deployed.stderr).toBe('')
    const atImport = JSON.parse((await readFile(importLog, 'utf8')).split('\n')[0]!) as Record<string, string>
    const replica = spawnStart(project, url(), 'fn start', [], undefined, replicaEnv())
    try {
      await replica.waitFor((r) => r.msg === 'function version live', 'the function live')
      const invoked = await runFn(project, ['invoke', `${prefix}_env`, '--data', '{}'], url())
      expect(invoked.stdout).toMatch(/^ok in /m)
      const out = await jsm.streams.getMessage(prefix, { last_by_subj: `${prefix}.out` })
      return { atImport, atRun: out!.json<Record<string, string>>(), replicaLog: replica.records() }
    } finally {
      await replica[Symbol.asyncDispose]()
    }
  } finally {
    await project.remove()
  }
}

it('by default a handler sees only locale, time zone, NODE_ENV, PATH, HOME, TMPDIR', async () => {
  const { atImport, atRun } = await handlerSees({})
  for (const seen of [atImport, atRun]) {
    expect(Object.keys(seen).every((k) => ['NODE_ENV', 'TZ', 'LANG', 'PATH', 'HOME', 'TMPDIR'].includes(k) || k.startsWith('LC_')), Object.keys(seen).join(', ')).toBe(true)
    expect(seen.NODE_ENV).toBe('production')
    expect(JSON.stringify(seen)).not.toContain(TOKEN)
  }
})

it("pool.env patterns pass what they match, except the replica's credentials, which the replica reports by name", async () => {
  const { atImport, atRun, replicaLog } = await handlerSees({ env: ['APP_*', 'NATS_*'] })
  for (const seen of [atImport, atRun]) {
    expect(seen).toEqual({ APP_VISIBLE: 'yes' })
  }
  expect(replicaLog.find((r) => r.withheld !== undefined)).toMatchObject({ component: 'pool', withheld: ['APP_TOKEN_COPY', 'NATS_URL'] })
})
