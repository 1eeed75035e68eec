/**
 * Every deployed version's module stays loaded in a thread that imported it (an ES module cannot
 * be unloaded), so a replica following many deploys replaces its threads once enough retired
 * versions pile up; messages keep flowing through the switch, and the deploy that makes them due
 * does not wait for the new threads to start.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { RECYCLE_AFTER_RETIRED } from '../../runtime/pool/loaded-versions.ts'
import { Replica } from '../../runtime/replica/replica.ts'
import { connectTo } from '../helpers/connect.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'
import { fixture, settled, testConfig } from '../helpers/runtime.ts'

let server: NatsServerProcess
let nc: NatsConnection
let js: JetStreamClient
let jsm: JetStreamManager
let dir: string

beforeAll(async () => {
  server = await startServer()
  nc = await connectTo(server.url)
  js = jetstream(nc)
  jsm = await jetstreamManager(nc)
  dir = await mkdtemp(join(tmpdir(), 'jetfn-recycle-'))
})

afterAll(async () => {
  await nc?.close()
  await server?.stop()
  await rm(dir, { recursive: true, force: true })
})

it(`replaces the worker threads after ${RECYCLE_AFTER_RETIRED} retired versions; every message of every version is acked`, async () => {
  const prefix = uniquePrefix()
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) })
  const replica = new Replica({ config: testConfig(server.url, { streams: [{ name: prefix, subjects: [`${prefix}.>`] }] }), log })
  await replica.start()
  try {
    const base = await fixture('ok', prefix)
    for (let v = 0; v <= RECYCLE_AFTER_RETIRED + 1; v++) {
      // Each version its own bundle file, as deploys of changed code are.
      const bundlePath = join(dir, `v${v}.mjs`)
      await copyFile(base.bundlePath, bundlePath)
      const fn = { ...base, version: v.toString(16).padStart(64, '0'), bundlePath }
      await replica.preload(fn)
      lines.push({ msg: 'test: preloaded', v })
      await replica.deploy(fn)
      await Promise.all(Array.from({ length: 5 }, (_, i) => js.publish(fn.subject, JSON.stringify({ v, i }))))
      await expect.poll(() => settled(jsm, fn), { timeout: 15_000 }).toBe(true)
    }
    const isRecycled = (l: Record<string, unknown>) => l.msg === 'worker threads recycled: retired function versions are dropped'
    await expect.poll(() => lines.filter(isRecycled).length, { timeout: 15_000 }).toBe(1)
    const recycled = lines.find(isRecycled)!
    expect(recycled.retired).toBe(RECYCLE_AFTER_RETIRED)
    // The version that made the threads due for replacement loaded on the running threads: its
    // deploy did not wait for new ones to start (that took 0.6-1 s); they took over after.
    const preloaded = lines.findIndex((l) => l.msg === 'test: preloaded' && l.v === RECYCLE_AFTER_RETIRED)
    expect(preloaded).toBeGreaterThanOrEqual(0)
    expect(lines.indexOf(recycled)).toBeGreaterThan(preloaded)
    expect(recycled.bundles).toBe(1)
    expect(replica.poolThreads?.total).toBe(2)
  } finally {
    await replica.stop(1_000)
  }
})
