/**
 * Shutdown and start-up when NATS is not there, as an operator sees `fn start`: SIGTERM while the
 * nats-server is gone ends the process within `shutdownGrace` + 5 s with code 0 and a log line
 * naming the messages it could not settle; a start-up that fails exits 1 with one line
 * `CODE: message`. Each test that kills a server starts its own.
 */
import { createServer } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connectTo } from '../helpers/connect.ts'
import { writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined)
})

const GRACE_MS = 2_000

/** A handler that holds its message until its signal aborts, ignoring it: only the shutdown ends it. */
function holdSource(prefix: string): string {
  return `import { existsSync } from 'node:fs'
import { defineFunction } from 'jetfn'

export default defineFunction({
  name: '${prefix}_hold',
  subject: '${prefix}.in',
  concurrency: 4,
  async handler(event, ctx) {
    ctx.log.info('hold started')
    // Mid-flight fixture: runs until a latch file that no test creates.
    while (!existsSync('${prefix}.never')) await new Promise((r) => setTimeout(r, 20))
  },
})
`
}

async function project(prefix: string, functions: Record<string, string> = {}): Promise<DevProject> {
  const p = await writeDevProject({
    prefix,
    config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port: 0 }, shutdownGrace: `${GRACE_MS}ms`, pool: { threads: 2 } },
    functions,
  })
  cleanup.push(() => p.remove())
  return p
}

function start(p: DevProject, url: string): FnReplica {
  const r = spawnStart(p, url)
  cleanup.push(() => r[Symbol.asyncDispose]())
  return r
}

/** A loopback port nobody listens on right now. */
async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as { port: number }
  await new Promise((resolve) => srv.close(resolve))
  return port
}

it('SIGTERM with the nats-server gone exits 0 within the grace + 5 s and names what it could not settle', async () => {
  const server = await startServer()
  cleanup.push(() => server.stop())
  const prefix = uniquePrefix()
  const p = await project(prefix, { 'hold.ts': holdSource(prefix) })
  expect((await runFn(p, ['deploy'], server.url)).code).toBe(0)
  const replica = start(p, server.url)
  await replica.waitFor((r) => r.msg === 'function version live', 'the function live')

  const nc = await connectTo(server.url)
  const js = jetstream(nc)
  const seqs = [(await js.publish(`${prefix}.in`, '{}')).seq, (await js.publish(`${prefix}.in`, '{}')).seq]
  await nc.close()
  for (const seq of seqs) await replica.waitFor((r) => r.msg === 'hold started' && r.seq === seq, `message ${seq} started`)

  server.kill('SIGKILL')
  await server.waitForExit()
  await replica.waitFor((r) => r.msg === 'disconnected from NATS', 'the disconnect')
  const signalledAt = Date.now()
  replica.kill('SIGTERM')
  expect(await replica.exited).toBe(0)
  expect(Date.now() - signalledAt).toBeLessThan(GRACE_MS + 5_000)
  const unsettled = replica.records().find((r) => typeof r.msg === 'string' && r.msg.startsWith('NATS unreachable at shutdown'))
  expect(unsettled).toMatchObject({ fn: `${prefix}_hold`, stream: prefix, count: 2 })
  expect([...(unsettled!.seqs as number[])].sort()).toEqual(seqs)
  expect(replica.records().some((r) => r.msg === 'replica state' && r.to === 'stopped')).toBe(true)
}, 60_000)

it('fn start exits 1 with one line when a stream it needs is refused after connecting', async () => {
  const server = await startServer()
  cleanup.push(() => server.stop())
  const prefix = uniquePrefix()
  // Another stream already owns the subjects the config's stream asks for: the server refuses it.
  const nc = await connectTo(server.url)
  await (await jetstreamManager(nc)).streams.add({ name: `${prefix}_other`, subjects: [`${prefix}.>`] })
  await nc.close()
  const p = await project(prefix)
  const replica = start(p, server.url)
  expect(await replica.exited).toBe(1)
  const lines = replica.stderr().trim().split('\n')
  expect(lines[0]).toMatch(new RegExp(`^FN_STREAM_CONFLICT: stream ${prefix} cannot be created or updated: .*overlap`))
  expect(lines.filter((l) => !l.startsWith('hint: '))).toHaveLength(1)
}, 60_000)

it('fn start exits 1 with one line when NATS is unreachable or the config is invalid', async () => {
  const prefix = uniquePrefix()
  const p = await project(prefix)
  const unreachable = start(p, `nats://127.0.0.1:${await freePort()}`)
  expect(await unreachable.exited).toBe(1)
  expect(unreachable.stderr().trim().split('\n').filter((l) => !l.startsWith('hint: '))).toEqual([
    expect.stringMatching(/^FN_NATS_UNAVAILABLE: cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: /),
  ])

  const bad = await writeDevProject({ prefix: `${prefix}_bad`, config: { pool: { threads: 0 } }, functions: {} })
  cleanup.push(() => bad.remove())
  const invalid = start(bad, 'nats://127.0.0.1:1')
  expect(await invalid.exited).toBe(1)
  expect(invalid.stderr().trim().split('\n').filter((l) => !l.startsWith('hint: '))).toEqual([
    expect.stringMatching(/^FN_CONFIG_INVALID: .*fn\.config\.ts: 'pool\.threads' /),
  ])
}, 60_000)
