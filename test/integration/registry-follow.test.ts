/**
 * A replica that is not following the registry says so: `/readyz` answers 503 with the reason
 * while a change cannot be applied (tried again with backoff) or while the registry watch is down
 * (restarted with backoff), and 200 once it follows again; deploys made then are followed.
 * `fn start` as a real process, on a real nats-server.
 */
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { FUNCTIONS_BUCKET } from '../../runtime/deploy/manifest.ts'
import type { DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

/** A function `<prefix>_greet` that tags its output with `tag`. */
function greet(prefix: string, tag: string): string {
  return `import { defineFunction } from 'jetfn'

export default defineFunction({
  name: '${prefix}_greet',
  subject: '${prefix}.in',
  async handler(event, ctx) {
    ctx.publish('${prefix}.out', { tag: '${tag}', version: ctx.function.version })
  },
})
`
}

/** A loopback port nobody listens on right now: bound by the OS, then released for the replica. */
async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as { port: number }
  await new Promise((resolve) => srv.close(resolve))
  return port
}

async function readyz(port: number): Promise<{ status: number; problems: string[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`)
  return { status: res.status, problems: ((await res.json()) as { problems: string[] }).problems }
}

async function setUp(tag: string): Promise<{ prefix: string; p: DevProject; port: number; replica: FnReplica; v1: string }> {
  const prefix = uniquePrefix()
  const port = await freePort()
  const p = await t.project(prefix, { 'greet.ts': greet(prefix, tag) }, { http: { port } })
  expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
  const v1 = (await t.registry.get(`${prefix}_greet`))!.version
  const replica = spawnStart(p, t.server.url)
  t.replicas.push(replica)
  await replica.waitFor(live(v1), 'v1 live')
  await expect.poll(() => readyz(port), { timeout: 10_000 }).toEqual({ status: 200, problems: [] })
  return { prefix, p, port, replica, v1 }
}

const live = (version: string) => (r: Record<string, unknown>) => r.msg === 'function version live' && r.version === version.slice(0, 12)

it('a deploy that cannot be applied is tried again with backoff, not ready meanwhile, and runs once it can be', async () => {
  const { prefix, port, replica, v1 } = await setUp('v1')
  // A version whose bundle is not in FN_BUNDLES yet (a store that lags or lost it): the apply fails.
  const code = new TextEncoder().encode(new TextDecoder().decode(await t.registry.getBundle(v1)).replace(/tag: (["'])v1\1/, 'tag: "v2"'))
  const v2 = createHash('sha256').update(code).digest('hex')
  expect(v2).not.toBe(v1)
  const manifest = (await t.registry.get(`${prefix}_greet`))!
  await t.registry.put({ ...manifest, version: v2 })

  await expect
    .poll(() => readyz(port), { timeout: 10_000 })
    .toMatchObject({ status: 503, problems: [expect.stringMatching(new RegExp(`^${prefix}_greet ${v2.slice(0, 12)} not applied: bundle ${v2.slice(0, 12)} is not in FN_BUNDLES \\(tried \\d+ times`))] })
  await replica.waitFor((r) => r.msg === 'registry change not applied; trying again' && (r.attempt as number) >= 2, 'a second try')

  await t.registry.putBundle(v2, code)
  await replica.waitFor(live(v2), 'v2 live after retrying', 30_000)
  await expect.poll(() => readyz(port), { timeout: 10_000 }).toEqual({ status: 200, problems: [] })
  await t.js.publish(`${prefix}.in`, '{}')
  expect(await t.lastJson(prefix, `${prefix}.out`)).toEqual({ tag: 'v2', version: v2 })
})

// Deletes the registry's KV stream: the last test of the file.
it('a registry watch that ends is restarted: not ready meanwhile, ready again after, and a deploy made then is followed', async () => {
  const { prefix, p, port, replica } = await setUp('v1')
  await t.jsm.streams.delete(`KV_${FUNCTIONS_BUCKET}`)
  await replica.waitFor((r) => r.msg === 'registry watch ended: deploys are not followed until it is restarted', 'the watch ended')
  const down = await readyz(port)
  expect(down.status).toBe(503)
  expect(down.problems).toEqual([expect.stringMatching(/^not following the registry: .*restarting the watch \(attempt \d+\)$/)])

  // `fn deploy` creates the registry again and writes v2: the restarted watch follows it.
  await writeFile(join(p.functionsDir, 'greet.ts'), greet(prefix, 'v2'))
  expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
  const v2 = (await t.registry.get(`${prefix}_greet`))!.version
  await replica.waitFor((r) => r.msg === 'registry watch restarted: following deploys again', 'the watch restarted', 30_000)
  await replica.waitFor(live(v2), 'v2 live', 30_000)
  await expect.poll(() => readyz(port), { timeout: 10_000 }).toEqual({ status: 200, problems: [] })
  await t.js.publish(`${prefix}.in`, '{}')
  expect(await t.lastJson(prefix, `${prefix}.out`)).toEqual({ tag: 'v2', version: v2 })
})
