/**
 * Test servers: one nats-server per test file (`startServer`), a 3-node JetStream cluster on
 * loopback (`startCluster`), and unique names so that tests sharing a server never collide.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { vi } from 'vitest'
import { findNatsServer } from '../../runtime/nats/nats-server-bin.ts'
import { NatsServerProcess, type NatsServerProcessOptions } from '../../runtime/nats/nats-server-process.ts'
import { connectTo } from './connect.ts'

/** A prefix for one test's streams, subjects and consumers: `t_<16 hex digits>`. */
export function uniquePrefix(): string {
  return `t_${randomBytes(8).toString('hex')}`
}

/**
 * Starts a JetStream server on a free loopback port with a temp store that `stop()` deletes.
 * Meant to be called once per test file (in `beforeAll`); tests that kill or restart a server start
 * their own.
 */
export async function startServer(opts: NatsServerProcessOptions = {}): Promise<NatsServerProcess> {
  const bin = opts.bin ?? (await findNatsServer()).path
  return NatsServerProcess.start({ ...opts, bin })
}

/** Options of {@link startCluster}. */
export interface StartClusterOptions {
  /** Number of nodes. Default: 3. */
  nodes?: number
  /** How long the cluster may take to form and elect a JetStream meta leader, in ms. Default: 30000. */
  readyTimeoutMs?: number
  /**
   * Put node i on its own loopback address `127.0.0.<i+1>`, every node's monitoring on the same
   * port, as pods behind one headless service are (what KEDA's scaler expects). Default: false,
   * every node on 127.0.0.1 with ports of its own.
   */
  distinctHosts?: boolean
}

/** A running cluster from {@link startCluster}. */
export interface TestCluster {
  servers: NatsServerProcess[]
  /** Client URLs of every node. */
  urls: string[]
  /** Stops every node and deletes their stores. */
  stop(): Promise<void>
}

/**
 * Starts a JetStream cluster on loopback with routes between all nodes. Resolves once every node
 * agrees on one meta leader that counts every node as a peer, and `$JS.API.INFO` answers.
 */
export async function startCluster(opts: StartClusterOptions = {}): Promise<TestCluster> {
  const nodes = opts.nodes ?? 3
  const timeoutMs = opts.readyTimeoutMs ?? 30_000
  const bin = (await findNatsServer()).path
  const clusterName = uniquePrefix()
  const names = Array.from({ length: nodes }, (_, i) => `${clusterName}_n${i}`)

  // A JetStream node refuses to start without routes, and routes need the other nodes' ports. So
  // the nodes first run without JetStream to have the OS choose their ports, then come back on
  // those same ports with JetStream and a full mesh of routes (as nats.js's launcher does).
  const hosts = names.map((_, i) => (opts.distinctHosts ? `127.0.0.${i + 1}` : '127.0.0.1'))
  const probe = (i: number, monitorPort?: number): NatsServerProcessOptions => ({ bin, clusterName, serverName: names[i], jetstream: false, host: hosts[i], ...(monitorPort ? { monitorPort } : {}) })
  let probes: NatsServerProcess[]
  if (opts.distinctHosts) {
    // The first node's free monitoring port is taken on the other addresses too.
    const first = await NatsServerProcess.start(probe(0))
    try {
      probes = [first, ...(await startAll(names.slice(1).map((_, i) => probe(i + 1, first.monitorPort))))]
    } catch (err) {
      await first.stop()
      throw err
    }
  } else {
    probes = await startAll(names.map((_, i) => probe(i)))
  }
  await Promise.all(probes.map((s) => s.stop()))

  const servers = await startAll(
    probes.map((p, i) => ({
      bin,
      clusterName,
      serverName: names[i],
      host: hosts[i],
      port: p.port,
      monitorPort: p.monitorPort,
      clusterPort: p.clusterPort,
      routes: probes.filter((o) => o !== p).map((o) => o.clusterUrl ?? ''),
    })),
  )
  const urls = servers.map((s) => s.url)
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()))
  }
  try {
    await waitForMetaLeader(servers, urls, timeoutMs)
  } catch (err) {
    await stop()
    throw err
  }
  return { servers, urls, stop }
}

async function startAll(all: NatsServerProcessOptions[]): Promise<NatsServerProcess[]> {
  const results = await Promise.allSettled(all.map((o) => NatsServerProcess.start(o)))
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) {
    await Promise.all(started.map((s) => s.stop()))
    throw failed.reason
  }
  return started
}

interface Jsz {
  meta_cluster?: { leader?: string; cluster_size?: number; replicas?: { name?: string; current?: boolean }[] }
}

async function waitForMetaLeader(servers: NatsServerProcess[], urls: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer yet'
  while (Date.now() < deadline) {
    const views = await Promise.all(servers.map((s) => jsz(s)))
    const leaders = new Set(views.map((v) => v?.meta_cluster?.leader))
    // Only the leader's own view lists every follower without itself, and says who is current.
    const leader = views.find((v) => {
      const m = v?.meta_cluster
      return m?.leader && m.replicas?.every((r) => r.name !== m.leader)
    })?.meta_cluster
    const formed =
      leaders.size === 1 &&
      leader?.cluster_size === servers.length &&
      leader.replicas?.length === servers.length - 1 &&
      leader.replicas.every((r) => r.current)
    if (formed) {
      const nc = await connectTo(urls)
      try {
        await (await jetstreamManager(nc)).getAccountInfo()
        return
      } catch (err) {
        last = `$JS.API.INFO: ${(err as Error).message}`
      } finally {
        await nc.close()
      }
    } else {
      last = `meta leaders seen: ${[...leaders].map(String).join(', ')}`
    }
    await delay(100)
  }
  throw new Error(`cluster of ${servers.length} did not elect a JetStream meta leader within ${timeoutMs} ms (${last})`)
}

async function jsz(server: NatsServerProcess): Promise<Jsz | undefined> {
  try {
    const res = await fetch(`${server.monitorUrl}/jsz`, { signal: AbortSignal.timeout(2_000) })
    return res.ok ? ((await res.json()) as Jsz) : undefined
  } catch {
    // A node still catching up may not answer; the poll asks again until its deadline.
    return undefined
  }
}

/**
 * Resolves once the cluster places an R3 stream (every node has joined JetStream's meta group):
 * a probe stream is created, retried until it is accepted, and deleted.
 */
export async function waitForR3(jsm: JetStreamManager): Promise<void> {
  const probe = uniquePrefix()
  await vi.waitFor(() => jsm.streams.add({ name: probe, subjects: [`${probe}.>`], num_replicas: 3 }), { timeout: 20_000, interval: 200 })
  await jsm.streams.delete(probe)
}
