/**
 * The deploy path as a user drives it: `fn deploy`, `fn start` replicas that follow every change,
 * `fn rollback` and `fn rm`, all as real processes on a real nats-server.
 */
import { createHash } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

/** A function that tags its output with `tag`, and waits for a latch file when asked to. */
function greet(prefix: string, tag: string): string {
  return `import { existsSync } from 'node:fs'
import { defineFunction } from 'jetfn'

export default defineFunction({
  name: 'greet',
  subject: '${prefix}.in.greet',
  async handler(event, ctx) {
    const d = event.data as { id: string; latch?: string }
    ctx.log.info({ id: d.id, tag: '${tag}' }, 'started')
    // Mid-flight fixture: holds until the test creates the latch file.
    while (d.latch && !existsSync(d.latch)) await new Promise((r) => setTimeout(r, 10))
    ctx.publish('${prefix}.out.' + d.id, { tag: '${tag}', version: ctx.function.version })
  },
})
`
}


function start(p: DevProject, label?: string): FnReplica {
  const r = spawnStart(p, t.server.url, label)
  t.replicas.push(r)
  return r
}

const live = (version?: string) => (r: Record<string, unknown>) =>
  r.msg === 'function version live' && (version === undefined || r.version === version.slice(0, 12))

function output(prefix: string, id: string): Promise<{ tag: string; version: string }> {
  return t.lastJson(prefix, `${prefix}.out.${id}`)
}

async function revisions(name: string): Promise<number> {
  return (await t.registry.history(name)).length
}

describe('fn deploy and fn start', () => {
  it('serves each new version, finishes in-flight work on the old one, no-ops an unchanged deploy, rolls back', async () => {
    const prefix = uniquePrefix()
    const p = await t.project(prefix, { 'greet.ts': greet(prefix, 'v1') })
    const first = await runFn(p, ['deploy'], t.server.url)
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/^greet {2}created {2}[0-9a-f]{12} {2}\(/m)
    const v1 = (await t.registry.get('greet'))!.version

    const replica = start(p)
    await replica.waitFor(live(v1), 'v1 live')
    await t.js.publish(`${prefix}.in.greet`, JSON.stringify({ id: 'a' }))
    expect(await output(prefix, 'a')).toEqual({ tag: 'v1', version: v1 })

    const latch = join(p.dir, 'latch')
    await t.js.publish(`${prefix}.in.greet`, JSON.stringify({ id: 'slow', latch }))
    await replica.waitFor((r) => r.msg === 'started' && r.id === 'slow', 'the slow message started')

    await writeFile(join(p.functionsDir, 'greet.ts'), greet(prefix, 'v2'))
    const second = await runFn(p, ['deploy'], t.server.url)
    expect(second.code).toBe(0)
    const v2 = (await t.registry.get('greet'))!.version
    expect(v2).not.toBe(v1)
    expect(second.stdout).toContain(`greet  updated  ${v1.slice(0, 12)} -> ${v2.slice(0, 12)}`)
    await replica.waitFor(live(v2), 'v2 live')
    await t.js.publish(`${prefix}.in.greet`, JSON.stringify({ id: 'b' }))
    expect(await output(prefix, 'b')).toEqual({ tag: 'v2', version: v2 })

    // The message that started on v1 finishes on v1.
    await writeFile(latch, '')
    expect(await output(prefix, 'slow')).toEqual({ tag: 'v1', version: v1 })

    const before = await revisions('greet')
    const third = await runFn(p, ['deploy'], t.server.url)
    expect(third.code).toBe(0)
    expect(third.stdout).toContain('greet  unchanged')
    expect(third.stdout).toContain('nothing changed')
    expect(await revisions('greet')).toBe(before)

    const back = await runFn(p, ['rollback', 'greet'], t.server.url)
    expect(back.code).toBe(0)
    expect(back.stdout).toContain(`greet  rolled back  ${v2.slice(0, 12)} -> ${v1.slice(0, 12)}`)
    await expect.poll(() => replica.records().filter(live(v1)).length, { timeout: 15_000 }).toBe(2)
    await t.js.publish(`${prefix}.in.greet`, JSON.stringify({ id: 'c' }))
    expect(await output(prefix, 'c')).toEqual({ tag: 'v1', version: v1 })

    const toV2 = await runFn(p, ['rollback', 'greet', '--to', v2.slice(0, 8)], t.server.url)
    expect(toV2.code).toBe(0)
    await expect.poll(() => replica.records().filter(live(v2)).length, { timeout: 15_000 }).toBe(2)
  })

  it('a bundle that throws at import leaves the previous version serving; a build error or bad export fails the deploy and changes nothing', async () => {
    const prefix = uniquePrefix()
    const p = await t.project(prefix, { 'greet.ts': greet(prefix, 'v1') })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const v1 = (await t.registry.get('greet'))!
    const replica = start(p)
    await replica.waitFor(live(v1.version), 'v1 live')

    // A manifest whose bundle fails in the replica (written straight to the registry, as a
    // deployer on another machine with another environment might have produced it).
    const broken = new TextEncoder().encode("throw new Error('boom at import')\n")
    const version = createHash('sha256').update(broken).digest('hex')
    await t.registry.putBundle(version, broken)
    await t.registry.put({ ...v1, version, bundle: { ...v1.bundle, object: version, size: broken.length } })
    const failure = await replica.waitFor((r) => r.msg === 'new version failed to load; the previous version keeps serving', 'the load failure')
    expect(failure).toMatchObject({ fn: 'greet', version: version.slice(0, 12), serving: v1.version.slice(0, 12) })
    expect(String(failure.reason)).toContain('boom at import')
    await t.js.publish(`${prefix}.in.greet`, JSON.stringify({ id: 'still-v1' }))
    expect(await output(prefix, 'still-v1')).toEqual({ tag: 'v1', version: v1.version })
    await t.registry.put(v1)

    const before = await revisions('greet')
    await writeFile(join(p.functionsDir, 'greet.ts'), 'export default { subject: "x", handler: 42 }\n')
    const badExport = await runFn(p, ['deploy'], t.server.url)
    expect(badExport.code).toBe(1)
    expect(badExport.stderr).toMatch(/^FN_FUNCTION_INVALID: .*greet\.ts: 'handler' must be a function/m)
    await writeFile(join(p.functionsDir, 'greet.ts'), 'export default {\n')
    const buildError = await runFn(p, ['deploy'], t.server.url)
    expect(buildError.code).toBe(1)
    expect(buildError.stderr).toMatch(/^FN_FUNCTION_LOAD_FAILED: .*greet\.ts: build failed: .*greet\.ts:\d+:\d+/m)
    expect(buildError.stderr).toContain('hint: nothing was deployed')
    expect(await revisions('greet')).toBe(before)
  })

  it('fn rm: the replica stops the function and its consumer is gone', async () => {
    const prefix = uniquePrefix()
    const p = await t.project(prefix, { 'greet.ts': greet(prefix, 'v1').replace("name: 'greet'", "name: 'gone'") })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replica = start(p)
    await replica.waitFor((r) => r.msg === 'function version live' && r.fn === 'gone', 'live')
    const rm = await runFn(p, ['rm', 'gone'], t.server.url)
    expect(rm.code).toBe(0)
    expect(rm.stdout).toMatch(/^gone {2}removed/m)
    await replica.waitFor((r) => r.msg === 'function removed' && r.fn === 'gone', 'function removed')
    await expect(t.jsm.consumers.info(prefix, 'fn_gone')).rejects.toThrow(/consumer not found/)
    expect(await t.registry.get('gone')).toBeUndefined()
    const again = await runFn(p, ['rm', 'gone'], t.server.url)
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/^FN_FUNCTION_NOT_FOUND: no function named 'gone' is deployed/m)
  })
})

describe('replicas scale out', () => {
  it('two fn start replicas share the work exactly once, both follow a deploy, and one finishes after the other is killed', async () => {
    const prefix = uniquePrefix()
    const counter = (tag: string) => `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: 'count',
  subject: '${prefix}.in.count',
  concurrency: 64,
  // Whatever the killed replica held comes back within 2 s.
  ackWait: '2s',
  async handler(event, ctx) {
    ctx.log.info({ seq: event.seq, tag: '${tag}' }, 'handled')
  },
})
`
    const p = await t.project(prefix, { 'count.ts': counter('v1') })
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const a = start(p, 'A')
    const b = start(p, 'B')
    await a.waitFor(live(), 'A live')
    await b.waitFor(live(), 'B live')

    const N = 20_000
    for (let i = 0; i < N; i++) {
      t.nc.publish(`${prefix}.in.count`, '{}')
      if (i % 1000 === 999) await t.nc.flush()
    }
    await t.nc.flush()
    const handled = () => [...a.records(), ...b.records()].filter((r) => r.msg === 'handled')
    await expect.poll(() => handled().length, { timeout: 60_000, interval: 200 }).toBeGreaterThanOrEqual(N)
    await expect.poll(async () => {
      const info = await t.jsm.consumers.info(prefix, 'fn_count')
      return info.num_pending + info.num_ack_pending
    }, { timeout: 15_000 }).toBe(0)
    const seqs = handled().map((r) => r.seq as number)
    expect(new Set(seqs).size).toBe(N)
    expect(seqs.length).toBe(N)
    expect(a.records().filter((r) => r.msg === 'handled').length).toBeGreaterThan(0)
    expect(b.records().filter((r) => r.msg === 'handled').length).toBeGreaterThan(0)

    await writeFile(join(p.functionsDir, 'count.ts'), counter('v2'))
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const v2 = (await t.registry.get('count'))!.version
    await a.waitFor(live(v2), 'A on v2')
    await b.waitFor(live(v2), 'B on v2')

    a.kill('SIGKILL')
    await a.exited
    for (let i = 0; i < 2_000; i++) t.nc.publish(`${prefix}.in.count`, '{}')
    await t.nc.flush()
    await expect.poll(async () => {
      const info = await t.jsm.consumers.info(prefix, 'fn_count')
      return info.num_pending + info.num_ack_pending
    }, { timeout: 30_000 }).toBe(0)
    await expect.poll(() => b.records().filter((r) => r.msg === 'handled' && r.tag === 'v2').length, { timeout: 30_000 }).toBe(2_000)
  }, 120_000)
})
