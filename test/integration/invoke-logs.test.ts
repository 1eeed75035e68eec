/**
 * `fn invoke` and `fn logs` as a user runs them against a `fn start` replica: the outcome of one
 * message (ok, retried, dead-lettered), a live tail of events and ctx.log lines, and one-line
 * errors for bad arguments.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
let server: NatsServerProcess
let project: DevProject
let replica: FnReplica

beforeAll(async () => {
  server = await startServer()
  const prefix = uniquePrefix()
  project = await writeDevProject({
    prefix,
    config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port: 0 } },
    functions: {
      'greet.ts': `import { defineFunction, NonRetryableError } from 'jetfn'
export default defineFunction({
  subject: '${prefix}.in.greet',
  retry: { maxDeliver: 2, backoff: [200], jitter: 0 },
  async handler(event, ctx) {
    const d = event.data as { name?: string; fail?: 'retry' | 'dead' }
    ctx.log.info({ name: d.name }, 'greeting')
    if (d.fail === 'dead') throw new NonRetryableError('no greeting for you')
    if (d.fail === 'retry') throw new Error('greeter unavailable')
  },
})
`,
    },
  })
  expect((await runFn(project, ['deploy'], server.url)).code).toBe(0)
  replica = spawnStart(project, server.url)
  await replica.waitFor((r) => r.msg === 'function version live', 'greet live')
})

afterAll(async () => {
  await replica?.[Symbol.asyncDispose]()
  await project?.remove()
  await server?.stop()
})

it('fn invoke prints ok with the duration and exits 0', async () => {
  const r = await runFn(project, ['invoke', 'greet', '--data', '{"name":"ada"}'], server.url)
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/^published to t_\w+\.in\.greet \(stream t_\w+, seq \d+\)$/m)
  expect(r.stdout).toMatch(/^ok in \d+(\.\d\d)? ms \(seq \d+, delivery 1, version [0-9a-f]{12}, replica [^)]+\)$/m)
})

it('fn invoke follows a failing message through its retry to the DLQ and exits 1', async () => {
  const r = await runFn(project, ['invoke', 'greet', '--data', '{"fail":"retry"}'], server.url)
  expect(r.code).toBe(1)
  expect(r.stdout).toMatch(/^failed in \d+(\.\d\d)? ms: Error: greeter unavailable \[error\]; retrying in 200 ms \(seq \d+, delivery 1,/m)
  expect(r.stdout).toMatch(/^dead-lettered: Error: greeter unavailable \[error\] \(seq \d+, delivery 2,/m)
})

it('fn invoke --json prints the events as JSON lines; a non-retryable failure is dead-lettered at once', async () => {
  const r = await runFn(project, ['invoke', 'greet', '--data', '{"fail":"dead"}', '--json'], server.url)
  expect(r.code).toBe(1)
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  expect(lines[0]).toMatchObject({ published: { seq: expect.any(Number) } })
  expect(lines[1]).toMatchObject({ fn: 'greet', outcome: 'dead-lettered', errorKind: 'non-retryable', error: 'NonRetryableError: no greeting for you', deliveries: 1 })
})

it('fn invoke --no-wait only publishes', async () => {
  const r = await runFn(project, ['invoke', 'greet', '--data', '{}', '--no-wait'], server.url)
  expect(r.code).toBe(0)
  expect(r.stdout.trim().split('\n')).toHaveLength(1)
})

it.each([
  [['invoke', 'greet', '--data', '{nope'], /^FN_USAGE_INVALID: --data is not valid JSON/],
  [['invoke', 'greet'], /^FN_USAGE_INVALID: give the payload with exactly one of --data <json> or --file <path>$/],
  [['invoke', 'nobody', '--data', '{}'], /^FN_FUNCTION_NOT_FOUND: no function named 'nobody' is deployed$/],
  [['invoke', 'greet', '--file', '/nonexistent/x.json'], /^FN_USAGE_INVALID: cannot read --file \/nonexistent\/x\.json: ENOENT$/],
  [['logs', 'nobody'], /^FN_FUNCTION_NOT_FOUND: no function named 'nobody' is deployed$/],
])('fn %j fails with one line and exit 1', async (args, line) => {
  const r = await runFn(project, args, server.url)
  expect(r.code).toBe(1)
  expect(r.stderr.split('\n')[0]).toMatch(line)
  expect(r.stderr).not.toMatch(/\n\s+at /)
})

it('fn logs --json tails events and ctx.log lines until Ctrl-C', async () => {
  const child = spawn(process.execPath, ['bin/fn.js', 'logs', 'greet', '--json', '--config', project.configFile], {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: server.url },
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (err += c.toString()))
  await expect.poll(() => err, { timeout: 15_000 }).toContain('following greet')
  expect((await runFn(project, ['invoke', 'greet', '--data', '{"name":"grace"}'], server.url)).code).toBe(0)
  const records = () => out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  await expect.poll(() => records().some((r) => r.type === 'event' && r.outcome === 'ok'), { timeout: 15_000 }).toBe(true)
  await expect.poll(() => records().some((r) => r.type === 'log' && r.msg === 'greeting' && r.name === 'grace'), { timeout: 15_000 }).toBe(true)
  const log = records().find((r) => r.type === 'log' && r.name === 'grace')!
  expect(log).toMatchObject({ fn: 'greet', deliveries: 1, level: 30 })
  child.kill('SIGINT')
  const [code] = await once(child, 'exit')
  expect(code).toBe(0)
})
