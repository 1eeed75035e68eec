/**
 * A replica as `fn start` and `fn dev` run it: connected, following the registry, serving its
 * health endpoints and metrics. Stopping it stops all three in order.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { ResolvedConfig } from '../config/config-schema.ts'
import { Registry } from '../deploy/registry.ts'
import { startHealthServer, type HealthServer } from '../http/health-server.ts'
import { ReplicaMetrics } from '../observe/metrics.ts'
import { RegistryFollower, type RegistryFollowerOptions } from './registry-follower.ts'
import { Replica } from './replica.ts'
import { startTracing } from '../trace/start-tracing.ts'
import { ReplicaService } from '../observe/replica-service.ts'
import { Dashboard } from '../http/dashboard/dashboard.ts'
import { jetstream } from '@nats-io/jetstream'
import { hostname } from 'node:os'

/** Options of {@link runReplica}. */
export interface RunReplicaOptions {
  config: ResolvedConfig
  log: Logger
  /** The `.fn` directory (bundle cache). */
  home: string
  workerLog?: { level?: string; pretty?: boolean }
  /** Override of `config.http.port` (0 disables; tests use a free port). */
  httpPort?: number
  onApplied?: RegistryFollowerOptions['onApplied']
}

export interface RunningReplica {
  replica: Replica
  registry: Registry
  nc: NatsConnection
  health: HealthServer | undefined
  /** What `/metrics` serves. */
  metrics: ReplicaMetrics
  stop(graceMs?: number): Promise<void>
}

export async function runReplica(opts: RunReplicaOptions): Promise<RunningReplica> {
  let registry: Registry | undefined
  const metrics = new ReplicaMetrics({ log: opts.log.child({ component: 'metrics' }) })
  const tracer = await startTracing(opts.config, opts.log.child({ component: 'tracing' }), `${hostname()}:${process.pid}`)
  const replica = new Replica({
    config: opts.config,
    log: opts.log,
    workerLog: opts.workerLog ?? {},
    stillDeployed: async (name, stream) => (await registry?.get(name))?.stream === stream,
    observers: tracer ? [metrics, tracer] : [metrics],
    tracing: tracer,
  })
  try {
    await replica.start()
  } catch (err) {
    await tracer?.shutdown()
    throw err
  }
  metrics.attach(replica)
  let follower: RegistryFollower | undefined
  let health: HealthServer | undefined
  const service = new ReplicaService({ nc: replica.nc, source: replica, totals: (fn) => metrics.totals(fn), log: opts.log.child({ component: 'service' }) })
  try {
    const provision = opts.config.provision
    registry = await Registry.open(replica.nc, { replicas: opts.config.jetfn.replicas, log: opts.log.child({ component: 'registry' }), provision })
    follower = new RegistryFollower({
      replica,
      registry,
      home: opts.home,
      log: opts.log.child({ component: 'registry' }),
      bindOnly: !provision,
      ...(opts.onApplied ? { onApplied: opts.onApplied } : {}),
    })
    await follower.start()
    await service.start()
    const following = follower
    // Not ready while the registry is not followed: a replica that misses deploys runs stale code.
    const httpLog = opts.log.child({ component: 'http' })
    const dashboard = new Dashboard({
      nc: replica.nc,
      jsm: replica.jsm,
      js: jetstream(replica.nc),
      registry,
      dlqStream: opts.config.dlq.stream,
      token: opts.config.http.token,
      replica: replica.id,
      log: httpLog.child({ component: 'dashboard' }),
    })
    health = await startHealthServer(opts.httpPort ?? opts.config.http.port, () => [...replica.readiness(), ...following.problems()], httpLog, metrics, dashboard)
  } catch (err) {
    follower?.stop()
    await service.stop()
    await replica.stop(0)
    await tracer?.shutdown()
    throw err
  }
  let stopping: Promise<void> | undefined
  return {
    replica,
    registry,
    nc: replica.nc,
    health,
    metrics,
    stop(graceMs?: number) {
      stopping ??= (async () => {
        follower?.stop()
        // Off `nats micro ls` first: a draining replica is no longer a service to call.
        await service.stop()
        await replica.stop(graceMs)
        await health?.close()
        // Last: the spans of the messages settled while draining go too.
        await tracer?.shutdown()
      })()
      return stopping
    },
  }
}
