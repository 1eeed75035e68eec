/**
 * `fn ls` as a user runs it (a real process) on functions deployed and served by a real `fn start`:
 * its JSON and its table checked against what JetStream holds (pending, ack pending, redelivered,
 * dead letters), and a function whose consumer does not exist yet shown without figures.
 */
import { rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { functionStatuses, type FunctionStatus } from '../../runtime/deploy/function-status.ts'
import { deadFunctionSource, okFunctionSource, type DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

/**
 * `ok` resolves; `dead` is non-retryable; `block` runs one at a time and waits for the latch;
 * `retry` (two at a time) fails its first delivery, then waits for the latch.
 */
function functions(prefix: string, latch: string): Record<string, string> {
  const wait = `while (!existsSync(${JSON.stringify(latch)})) await new Promise((r) => setTimeout(r, 10))`
  return {
    'ok.ts': okFunctionSource(prefix),
    'dead.ts': deadFunctionSource(prefix),
    'block.ts': `import { existsSync } from 'node:fs'
import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${prefix}_block',
  subject: '${prefix}.in.block',
  concurrency: 1,
  async handler() {
    ${wait}
  },
})
`,
    'retry.ts': `import { existsSync } from 'node:fs'
import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${prefix}_retry',
  subject: '${prefix}.in.retry',
  concurrency: 2,
  retry: { maxDeliver: 5, backoff: ['10ms'], jitter: 0 },
  async handler(event) {
    if (event.deliveries === 1) throw new Error('first try fails')
    ${wait}
  },
})
`,
  }
}

async function ls(p: DevProject): Promise<FunctionStatus[]> {
  const r = await runFn(p, ['ls', '--json'], t.server.url)
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout) as FunctionStatus[]
}

describe('fn ls', () => {
  it('lists every deployed function with its consumer and DLQ figures, as JetStream has them', async () => {
    const prefix = uniquePrefix()
    const latch = join(tmpdir(), `${prefix}.latch`)
    t.cleanup.push(() => rm(latch, { force: true }))
    const p = await t.project(prefix, functions(prefix, latch), { shutdownGrace: '2s' })
    const fn = (n: string) => `${prefix}_${n}`
    const names = [fn('block'), fn('dead'), fn('ok'), fn('retry')]

    const empty = await runFn(p, ['ls'], t.server.url)
    expect(empty).toEqual({ code: 0, stdout: 'no functions deployed (run `fn deploy`)\n', stderr: '' })

    const deployed = await runFn(p, ['deploy'], t.server.url)
    expect(deployed.code).toBe(0)
    const manifests = await t.registry.list()

    // Deployed: the deploy created the consumers (so that startFrom 'new' counts from it) and the
    // DLQ stream; nothing has run yet.
    const first = await ls(p)
    expect(first.map((s) => s.name)).toEqual(names)
    for (const s of first) {
      const m = manifests.find((x) => x.name === s.name)!
      expect(s).toEqual({
        name: m.name,
        version: m.version,
        subject: m.subject,
        stream: prefix,
        consumer: `fn_${m.name}`,
        pending: 0,
        inFlight: 0,
        redelivered: 0,
        dlq: 0,
        dlqProblem: null,
        pausedUntil: null,
        replay: null,
        deployedAt: m.deployedAt,
        deployedBy: m.deployedBy,
      })
    }
    const notRun = await runFn(p, ['ls'], t.server.url)
    expect(notRun.code).toBe(0)
    expect(notRun.stdout).toMatch(new RegExp(`^${fn('ok')} +[0-9a-f]{12} +${prefix}\\.in\\.ok +${prefix} +0 +0 +0 +0 +- +\\S+ +\\S+@\\S+$`, 'm'))

    const replica = spawnStart(p, t.server.url)
    t.replicas.push(replica)
    for (const name of names) await replica.waitFor((r) => r.msg === 'function version live' && r.fn === name, `${name} live`)

    const publish = (n: string, count: number) =>
      Promise.all(Array.from({ length: count }, (_, i) => t.js.publish(`${prefix}.in.${n}`, JSON.stringify({ i }))))
    await Promise.all([publish('ok', 4), publish('dead', 3), publish('block', 5), publish('retry', 2)])

    const figures = (all: FunctionStatus[]) =>
      Object.fromEntries(all.map((s) => [s.name.slice(prefix.length + 1), [s.pending, s.inFlight, s.redelivered, s.dlq]]))
    // block: one running, one prefetched, three waiting; retry: both on their second delivery.
    // Waiting for that state goes through the library (a process per poll is slow on a busy box);
    // once there, the latch holds it still, and the command's own output is checked.
    const expected = { ok: [0, 0, 0, 0], dead: [0, 0, 0, 3], block: [3, 2, 0, 0], retry: [0, 2, 2, 0] }
    const statuses = () => functionStatuses({ registry: t.registry, jsm: t.jsm, dlqStream: 'FN_DLQ' })
    // Generous: on a loaded box a fresh replica has been seen to take ~20 s to receive the last
    // messages of an idle function (pull loop, not `fn ls`; see the commit message).
    await expect.poll(async () => figures(await statuses()), { timeout: 45_000, interval: 100 }).toEqual(expected)
    expect(figures(await ls(p))).toEqual(expected)

    // The same figures straight from JetStream.
    for (const name of names) {
      const info = await t.jsm.consumers.info(prefix, `fn_${name}`)
      const dlqSubject = `fn.dlq.${name}`
      const dlq = (await t.jsm.streams.info('FN_DLQ', { subjects_filter: dlqSubject })).state.subjects?.[dlqSubject] ?? 0
      expect([info.num_pending, info.num_ack_pending, info.num_redelivered, dlq]).toEqual(expected[name.slice(prefix.length + 1) as keyof typeof expected])
    }

    const table = await runFn(p, ['ls'], t.server.url)
    expect(table.stderr).toBe('')
    expect(table.code).toBe(0)
    const lines = table.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^NAME +VERSION +SUBJECT +STREAM +PENDING +IN FLIGHT +REDELIVERED +DLQ +PAUSED +DEPLOYED AT +DEPLOYED BY$/)
    expect(lines).toHaveLength(5)
    const block = manifests.find((m) => m.name === fn('block'))!
    const row = lines.find((l) => l.startsWith(`${fn('block')} `))!
    expect(row.split(/ {2,}/).map((c) => c.trim())).toEqual([
      fn('block'),
      block.version.slice(0, 12),
      `${prefix}.in.block`,
      prefix,
      '3',
      '2',
      '0',
      '0',
      '-',
      block.deployedAt,
      `${block.deployedBy.user}@${block.deployedBy.host}`,
    ])
    expect(lines.find((l) => l.startsWith(`${fn('dead')} `))!.split(/ {2,}/).map((c) => c.trim())[7]).toBe('3')

    await writeFile(latch, '')
    await expect.poll(async () => figures(await statuses()), { timeout: 20_000, interval: 100 }).toEqual({ ...expected, block: [0, 0, 0, 0], retry: [0, 0, 0, 0] })
  }, 150_000) // seven `fn` processes, each a few seconds of start-up on a loaded box
})
