/**
 * Replicas as NATS users see services, through the client of `@nats-io/services` (what
 * `nats micro ls/info/stats` send): each `fn start` is an instance of service `jetfn`, its
 * functions are endpoints carrying their version, and the stats count each function's outcomes.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { Svcm, type ServiceIdentity, type ServiceInfo, type ServiceStats } from '@nats-io/services'
import { deadFunctionSource, okFunctionSource } from '../helpers/dev-process.ts'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

async function all<T>(it: Promise<AsyncIterable<T>>): Promise<T[]> {
  const out: T[] = []
  for await (const x of await it) out.push(x)
  return out
}

describe('nats micro', () => {
  it('lists each replica, its functions and versions, and counts per function; follows a redeploy and a stop', async () => {
    const prefix = uniquePrefix()
    const p = await t.project(prefix, { 'ok.ts': okFunctionSource(prefix), 'dead.ts': deadFunctionSource(prefix) })
    const ok = `${prefix}_ok`
    const dead = `${prefix}_dead`
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replica = spawnStart(p, t.server.url)
    t.replicas.push(replica)
    for (const name of [ok, dead]) await replica.waitFor((r) => r.msg === 'function version live' && r.fn === name, `${name} live`)
    const client = new Svcm(t.nc).client()

    // `nats micro ls`: the replica, named by host and pid.
    await expect.poll(async () => (await all<ServiceIdentity>(client.ping('jetfn'))).map((s) => s.metadata?.replica?.split(':')[1])).toEqual([String(replica.pid)])

    // `nats micro info jetfn`: an endpoint per function, with the version deployed.
    const version = (await t.registry.get(ok))!.version
    await expect
      .poll(async () => {
        const [info] = await all<ServiceInfo>(client.info('jetfn'))
        return info?.endpoints.map((e) => ({ name: e.name, subject: e.subject, version: e.metadata?.version, fnSubject: e.metadata?.subject })).sort((a, b) => a.name.localeCompare(b.name))
      })
      .toEqual([
        { name: dead, subject: `fn.status.${dead}`, version: (await t.registry.get(dead))!.version, fnSubject: `${prefix}.in.dead` },
        { name: ok, subject: `fn.status.${ok}`, version, fnSubject: `${prefix}.in.ok` },
      ])

    // `nats micro stats jetfn`: what each function settled.
    for (let i = 0; i < 3; i++) await t.js.publish(`${prefix}.in.ok`, '{}')
    await t.js.publish(`${prefix}.in.dead`, '{}')
    const data = async (fn: string) => {
      const [stats] = await all<ServiceStats>(client.stats('jetfn'))
      return stats?.endpoints?.find((e) => e.name === fn)?.data as Record<string, unknown> | undefined
    }
    await expect.poll(() => data(ok), { timeout: 15_000 }).toMatchObject({ ok: 3, retried: 0, deadLettered: 0, inFlight: 0, version })
    await expect.poll(() => data(dead), { timeout: 15_000 }).toMatchObject({ ok: 0, deadLettered: 1 })
    // The endpoint itself answers with the same figures.
    const answer = (await t.nc.request(`fn.status.${ok}`, '', { timeout: 5_000 })).json<Record<string, unknown>>()
    expect(answer).toMatchObject({ function: ok, ok: 3, version })

    // A redeploy shows the new version.
    await writeFile(join(p.functionsDir, 'ok.ts'), okFunctionSource(prefix).replace('async handler() {}', 'async handler() { return }'))
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const next = (await t.registry.get(ok))!.version
    expect(next).not.toBe(version)
    await expect
      .poll(async () => (await all<ServiceInfo>(client.info('jetfn')))[0]?.endpoints.find((e) => e.name === ok)?.metadata?.version, { timeout: 15_000 })
      .toBe(next)

    // A stopped replica is no longer listed.
    replica.kill('SIGTERM')
    expect(await replica.exited).toBe(0)
    await expect(all<ServiceIdentity>(client.ping('jetfn'))).rejects.toThrow(/no responders/)
  })
})
