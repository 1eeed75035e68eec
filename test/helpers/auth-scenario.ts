/**
 * One way to connect, proven end to end as a user runs jetfn: `fn deploy`, a `fn start` replica
 * that runs the functions (a message published by `fn invoke` runs its handler and is acked; a
 * failing one reaches the DLQ), `fn ls`, `fn dlq ls`, then `fn dev` against the same external
 * server. Everything the processes printed is returned, for the secrets check.
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { expect } from 'vitest'
import { consumerName } from '../../runtime/nats/ensure-consumer.ts'
import { connectNats, type NatsSettings } from '../../runtime/nats/connect.ts'
import { spawnDev, writeDevProject } from './dev-process.ts'
import { runFn, spawnStart, type FnResult } from './fn-process.ts'

/** How the `fn` processes of a scenario connect, and how the test itself does. */
export interface AuthScenario {
  /** Unique per test: names the project, stream, subjects and functions. */
  prefix: string
  /** `NATS_URL` of the processes (may carry userinfo). */
  url: string
  /** More environment of the processes (`NATS_TOKEN`, `NATS_CREDS`, ...). */
  env?: NodeJS.ProcessEnv
  /** `nats` of the project's fn.config.ts (token, tls, ...), beside the URL. */
  nats?: Record<string, unknown>
  /** How the test connects to check consumer state. */
  admin: NatsSettings
}

/** What a scenario printed, every process's stdout and stderr. */
export type Printed = string[]

/** Source of `<prefix>_ok` (resolves) and `<prefix>_dead` (never succeeds). */
function functions(prefix: string): Record<string, string> {
  return {
    'ok.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({ name: '${prefix}_ok', subject: '${prefix}.in.ok', async handler(event, ctx) { ctx.log.info({ seq: event.seq }, 'handled') } })
`,
    'dead.ts': `import { defineFunction, NonRetryableError } from 'jetfn'
export default defineFunction({ name: '${prefix}_dead', subject: '${prefix}.in.dead', async handler() { throw new NonRetryableError('refused on purpose') } })
`,
  }
}

/** Runs the whole scenario, asserting each step as the user sees it; returns what was printed. */
export async function expectEndToEnd(s: AuthScenario): Promise<Printed> {
  const printed: Printed = []
  // Debug logs: the most a process prints, and so the most places a secret could slip into.
  const env = { LOG_LEVEL: 'debug', ...s.env }
  const project = await writeDevProject({
    prefix: s.prefix,
    config: { streams: [{ name: s.prefix, subjects: [`${s.prefix}.>`] }], http: { port: 0 }, shutdownGrace: '5s', pool: { threads: 1 }, ...(s.nats ? { nats: s.nats } : {}) },
    functions: functions(s.prefix),
  })
  const fn = async (args: string[]): Promise<FnResult> => {
    const r = await runFn(project, args, s.url, env)
    printed.push(r.stdout, r.stderr)
    return r
  }
  const ok = `${s.prefix}_ok`
  const dead = `${s.prefix}_dead`
  const admin = await connectNats(s.admin, { name: 'jetfn-test admin' })
  try {
    const deployed = await fn(['deploy'])
    expect(deployed.stderr).toBe('')
    expect(deployed.code).toBe(0)
    expect(deployed.stdout).toMatch(new RegExp(`^${ok}  created`, 'm'))

    const replica = spawnStart(project, s.url, 'fn start', [], undefined, env)
    try {
      await replica.waitFor((r) => r.msg === 'replica ready' && (r.functions as string[]).length === 2, 'both functions running')
      const invoked = await fn(['invoke', ok, '--data', '{"n":1}'])
      expect(invoked.code).toBe(0)
      expect(invoked.stdout).toMatch(/^ok in /m)
      const seq = Number(/seq (\d+)\)/.exec(invoked.stdout)?.[1])
      const jsm = await jetstreamManager(admin)
      await expect
        .poll(async () => {
          const info = await jsm.consumers.info(s.prefix, consumerName(ok))
          return { floor: info.ack_floor.stream_seq, unacked: info.num_ack_pending }
        })
        .toEqual({ floor: seq, unacked: 0 })

      const failed = await fn(['invoke', dead, '--data', '{}'])
      expect(failed.code).toBe(1)
      expect(failed.stdout).toMatch(/^dead-lettered: NonRetryableError: refused on purpose/m)

      const ls = await fn(['ls', '--json'])
      expect(ls.code).toBe(0)
      const statuses = JSON.parse(ls.stdout) as Array<{ name: string; dlq: number }>
      expect(statuses.find((x) => x.name === dead)?.dlq).toBe(1)
      expect(statuses.map((x) => x.name)).toContain(ok)

      const dlq = await fn(['dlq', 'ls', dead])
      expect(dlq.code).toBe(0)
      expect(dlq.stdout).toContain('refused on purpose')

      replica.kill('SIGTERM')
      expect(await replica.exited).toBe(0)
    } finally {
      await replica[Symbol.asyncDispose]()
      printed.push(replica.output())
    }

    // fn dev uses the server NATS_URL names, with the same credentials and TLS.
    const dev = spawnDev(project, { url: s.url, env, label: 'fn dev' })
    try {
      await dev.waitFor(/fn dev ready/)
      const again = await fn(['invoke', ok, '--data', '{"n":2}'])
      expect(again.code).toBe(0)
      expect(again.stdout).toMatch(/^ok in /m)
      dev.kill('SIGINT')
      expect(await dev.exited).toBe(0)
    } finally {
      await dev[Symbol.asyncDispose]()
      printed.push(dev.output)
    }
  } finally {
    await admin.close()
    await project.remove()
  }
  return printed
}

/** Asserts that none of `secrets` appears in anything printed (each checked alone, for a clear failure). */
export function expectNoSecrets(printed: Printed, secrets: readonly string[]): void {
  const all = printed.join('\n')
  expect(all.length).toBeGreaterThan(0)
  for (const secret of secrets) {
    expect(secret.length, 'a secret worth looking for').toBeGreaterThanOrEqual(8)
    expect(all.includes(secret), `printed output contains the secret ${secret.slice(0, 4)}…`).toBe(false)
  }
}
