/**
 * `ctx.signal` aborts on shutdown, as a handler sees it: SIGTERM to `fn start`, and once the
 * shutdown grace is over, a handler still running sees its signal abort with a `ShutdownError`
 * saying why. A handler that gives up then is handed back without blame (no retry counted, no
 * dead letter) and runs again at once on another replica; a handler that finished within the
 * grace is acked. Real processes on a real nats-server; a ledger of outputs at the end.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'
import type { DevProject } from '../helpers/dev-process.ts'

const t = useTestServer()
const GRACE_MS = 2_000

/**
 * `wait` messages honour their signal on their first delivery: they run until it aborts, then give
 * up with its reason. `latch` messages hold until a file exists, then succeed. Each success
 * publishes `<prefix>.out.<id>` with the delivery it ran on.
 */
function abortable(prefix: string): string {
  return `import { existsSync } from 'node:fs'
import { defineFunction } from 'jetfn'

export default defineFunction({
  name: '${prefix}_abortable',
  subject: '${prefix}.in',
  ackWait: '60s',
  async handler(event, ctx) {
    const d = event.data as { id: string; latch?: string }
    ctx.log.info({ id: d.id }, 'started')
    if (d.latch === undefined && event.deliveries === 1) {
      const signal = ctx.signal
      await new Promise((_, reject) => signal.addEventListener('abort', () => {
        ctx.log.info({ id: d.id, name: signal.reason.name, reason: signal.reason.message }, 'aborted')
        reject(signal.reason)
      }, { once: true }))
    }
    // Mid-flight fixture: holds until the test creates the latch file.
    while (d.latch && !existsSync(d.latch)) await new Promise((r) => setTimeout(r, 10))
    ctx.publish('${prefix}.out.' + d.id, { id: d.id, deliveries: event.deliveries })
  },
})
`
}

function start(p: DevProject, label: string): FnReplica {
  const r = spawnStart(p, t.server.url, label)
  t.replicas.push(r)
  return r
}

/** Outputs stored per subject under `<prefix>.out.>`. */
async function outputCounts(prefix: string): Promise<Record<string, number>> {
  const info = await t.jsm.streams.info(prefix, { subjects_filter: `${prefix}.out.>` })
  return info.state.subjects ?? {}
}

it('SIGTERM: once the grace is over a handler honouring ctx.signal is aborted and handed back; one that finished in time is acked', async () => {
  const prefix = uniquePrefix()
  const fn = `${prefix}_abortable`
  const p = await t.project(prefix, { 'abortable.ts': abortable(prefix) }, { shutdownGrace: `${GRACE_MS}ms` })
  expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
  const a = start(p, 'A')
  await a.waitFor((r) => r.msg === 'function version live', 'the function live')

  const latch = join(p.dir, 'latch')
  await t.js.publish(`${prefix}.in`, JSON.stringify({ id: 'wait' }))
  await t.js.publish(`${prefix}.in`, JSON.stringify({ id: 'quick', latch }))
  for (const id of ['wait', 'quick']) await a.waitFor((r) => r.msg === 'started' && r.id === id, `${id} started`)

  const signalledAt = Date.now()
  a.kill('SIGTERM')
  await a.waitFor((r) => r.msg === 'stopping', 'stopping')
  // Finishes within the grace: acked as usual.
  await writeFile(latch, '')
  const aborted = await a.waitFor((r) => r.msg === 'aborted', 'the abort', GRACE_MS + 5_000)
  expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(GRACE_MS)
  expect(aborted).toMatchObject({ id: 'wait', name: 'ShutdownError', reason: `the replica is shutting down: its shutdown grace of ${GRACE_MS} ms is over` })
  expect(await a.exited).toBe(0)
  expect(Date.now() - signalledAt).toBeLessThan(GRACE_MS + 5_000)
  // Handed back, not failed: no retry counted, no dead letter.
  expect(a.records().filter((r) => r.msg === 'invocation failed; retrying' || r.msg === 'message dead-lettered')).toEqual([])

  expect(await t.lastJson(prefix, `${prefix}.out.quick`)).toEqual({ id: 'quick', deliveries: 1 })
  const b = start(p, 'B')
  // Redelivered at once (ack_wait is 60 s): the hand-back reached the server.
  expect(await t.lastJson(prefix, `${prefix}.out.wait`)).toEqual({ id: 'wait', deliveries: 2 })
  await b.waitFor((r) => r.msg === 'started' && r.id === 'wait', 'wait run again on B')
  // Ledger: each message settled once, nothing left on the consumer.
  expect(await outputCounts(prefix)).toEqual({ [`${prefix}.out.quick`]: 1, [`${prefix}.out.wait`]: 1 })
  await expect
    .poll(async () => {
      const info = await t.jsm.consumers.info(prefix, `fn_${fn}`)
      return { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered }
    }, { timeout: 10_000 })
    .toEqual({ pending: 0, ackPending: 0, redelivered: 0 })
})
