/**
 * The jetfn side of the benchmark, run as a user runs it: function files deployed with
 * `deployFunctions` (what `fn deploy` calls) into the registry, and a replica that follows the
 * registry, either in this process (`runReplica`, what `fn start` calls) or as an `fn start` child.
 */
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import type { JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { resolveConfig, type ResolvedConfig } from '../runtime/config/config-schema.ts'
import { deployFunctions, type DeployResult } from '../runtime/deploy/deploy-functions.ts'
import { removeFunction } from '../runtime/deploy/manage-functions.ts'
import { Registry } from '../runtime/deploy/registry.ts'
import { consumerName } from '../runtime/nats/ensure-consumer.ts'
import { runReplica, type RunningReplica } from '../runtime/replica/run-replica.ts'
import type { LocalRedis } from './bench-peers.ts'
import { waitDrained } from './bench-support.ts'

/** What every case gets: the one server of the run and a connection to it. */
export interface BenchEnv {
  url: string
  root: string
  nc: NatsConnection
  jsm: JetStreamManager
  registry: Registry
  quick: boolean
  runs: number
  log: (line: string) => void
  /** `--peers`: measure the peers beside case 1; `redis` is absent when redis-server is not installed. */
  peers?: { redis: LocalRedis | undefined }
}

export async function openRegistry(nc: NatsConnection): Promise<Registry> {
  return Registry.open(nc)
}

/** The resolved config a replica and a deploy use: no streams of its own (the bench makes them). */
export function benchConfig(url: string, functionsDir: string): ResolvedConfig {
  return resolveConfig(
    { nats: { servers: url }, http: { port: 0 }, functionsDir, pool: { threads: availableParallelism() }, shutdownGrace: '2s' },
    { file: 'bench', env: {} },
  )
}

/** `fn deploy` of the given files; throws unless every one was created or updated. */
export async function deploy(env: BenchEnv, functionsDir: string, files: string[]): Promise<DeployResult[]> {
  const results = await deployFunctions({ config: benchConfig(env.url, functionsDir), registry: env.registry, jsm: env.jsm, files, home: join(env.root, '.fn'), cwd: env.root })
  return results
}

/** `fn rm` of each function that is deployed; the registry is left as the case found it. */
export async function undeploy(env: BenchEnv, names: string[]): Promise<void> {
  for (const name of names) {
    if (await env.registry.get(name)) await removeFunction(env.registry, env.jsm, name)
  }
}

/**
 * A replica in this process, following the registry as `fn start` does (logs: warnings only).
 * `run` is the `runReplica` to use: the source's by default, or the built package's.
 */
export async function inProcessReplica(env: BenchEnv, functionsDir: string, run: typeof runReplica = runReplica): Promise<RunningReplica> {
  return run({ config: benchConfig(env.url, functionsDir), log: pino({ level: 'warn' }), home: join(env.root, '.fn'), httpPort: 0 })
}

/**
 * Deploys one function whose backlog is already filled and returns the milliseconds from
 * `deployFunctions` returning to its consumer drained: the replica sees the manifest, loads the
 * bundle in a worker, creates the consumer and drains it.
 */
export async function deployAndDrain(env: BenchEnv, functionsDir: string, file: string, name: string, stream: string): Promise<number> {
  await deploy(env, functionsDir, [file])
  const start = performance.now()
  await waitDrained(env.jsm, stream, consumerName(name))
  return performance.now() - start
}

/** Waits until `count` function consumers exist on a stream (a replica has applied the deploy). */
export async function waitConsumers(jsm: JetStreamManager, stream: string, count: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const info = await jsm.streams.info(stream)
    if (info.state.consumer_count >= count) return
    if (Date.now() > deadline) throw new Error(`only ${info.state.consumer_count} of ${count} consumers on ${stream}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
