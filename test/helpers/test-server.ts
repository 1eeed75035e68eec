/**
 * The per-file fixture of the integration tests that drive `fn` processes: one nats-server for
 * the file, a client connection with JetStream handles, the registry, and clean-up. Replicas a
 * test starts are stopped after that test: every replica follows the whole registry of its
 * server, so one left running would take a share of a later test's messages.
 */
import { afterAll, afterEach, beforeAll } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { Registry } from '../../runtime/deploy/registry.ts'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { connectTo } from './connect.ts'
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
}

/** Registers the hooks and returns the fixture, filled in before the first test runs. */
export function useTestServer(): TestServer {
  const t = { cleanup: [], replicas: [] } as unknown as TestServer
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
