/**
 * The per-file fixture of the integration tests that drive `fn` processes: one nats-server for
 * the file, a client connection with JetStream handles, the registry, and clean-up. Replicas a
 * test starts are stopped after that test: every replica follows the whole registry of its
 * server, so one left running would take a share of a later test's messages.
 */
import { afterAll, afterEach, beforeAll, expect } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { Registry } from '../../runtime/deploy/registry.ts'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { connectTo } from './connect.ts'
import { writeDevProject, type DevProject } from './dev-process.ts'
import type { FnReplica } from './fn-process.ts'
import { startServer } from './nats-server.ts'

export interface TestServer {
  server: NatsServerProcess
  nc: NatsConnection
  js: JetStreamClient
  jsm: JetStreamManager
  registry: Registry
  /** Run after every test of the file, last first (project directories, extra processes). */
  cleanup: Array<() => Promise<unknown>>
  /** `fn start` processes of the running test; killed after it. */
  replicas: FnReplica[]
  /**
   * Writes a temp project (removed after the file) whose config has one stream `<prefix>` on
   * `<prefix>.>`, no HTTP port, a 5 s shutdown grace and 2 pool threads; `config` overrides these.
   */
  project(prefix: string, functions: Record<string, string>, config?: Record<string, unknown>): Promise<DevProject>
  /** The JSON of the last message on `subject` in `stream`, once there is one (polls up to 15 s). */
  lastJson<T>(stream: string, subject: string): Promise<T>
}

/** Registers the hooks and returns the fixture, filled in before the first test runs. */
export function useTestServer(): TestServer {
  const t = { cleanup: [], replicas: [] } as unknown as TestServer
  t.project = async (prefix, functions, config = {}) => {
    const p = await writeDevProject({
      prefix,
      config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port: 0 }, shutdownGrace: '5s', pool: { threads: 2 }, ...config },
      functions,
    })
    t.cleanup.push(() => p.remove())
    return p
  }
  t.lastJson = async <T>(stream: string, subject: string): Promise<T> => {
    let found: T | undefined
    await expect
      .poll(async () => {
        const m = await t.jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null)
        found = m?.json<T>()
        return found !== undefined
      }, { timeout: 15_000 })
      .toBe(true)
    return found!
  }
  beforeAll(async () => {
    t.server = await startServer()
    t.nc = await connectTo(t.server.url)
    t.js = jetstream(t.nc)
    t.jsm = await jetstreamManager(t.nc)
    t.registry = await Registry.open(t.nc)
  })
  afterEach(async () => {
    for (const r of t.replicas.splice(0)) await r[Symbol.asyncDispose]()
  })
  afterAll(async () => {
    for (const c of t.cleanup.reverse()) await c().catch(() => undefined)
    await t.nc?.close()
    await t.server?.stop()
  })
  return t
}
