/**
 * The DLQ stream jetfn keeps (`dlq.stream` of `fn.config.ts`, default `FN_DLQ`, subjects
 * `fn.dlq.>`): its one definition, used by replicas and by `fn deploy`, which both make sure it
 * exists (as one of jetfn's own streams: `ensureStream(…, { own: true })`).
 */
import type { ServerInfo } from '@nats-io/transport-node'
import type { ResolvedConfig } from '../config/config-schema.ts'
import { DLQ_SUBJECT_PREFIX } from '../config/config-schema.ts'
import type { StreamSpec } from '../nats/ensure-stream.ts'
import { ownReplicas } from '../nats/own-replicas.ts'

/**
 * How many replicas the DLQ and its payload store get: as many as jetfn's own state
 * ({@link ownReplicas}: `jetfn.replicas`, else the cluster's nodes up to 3, 1 on a single server),
 * and at least as many as the most durable stream it takes dead letters from.
 *
 * @param server the connected server's INFO (`nc.info`).
 */
export function dlqReplicas(config: ResolvedConfig, server: Pick<ServerInfo, 'cluster' | 'connect_urls'> | undefined): number {
  return Math.max(ownReplicas(server, config.jetfn.replicas), ...config.streams.map((st) => st.replicas))
}

/** The DLQ stream's spec; `server` as for {@link dlqReplicas}. */
export function dlqStreamSpec(config: ResolvedConfig, server: Pick<ServerInfo, 'cluster' | 'connect_urls'> | undefined): StreamSpec {
  return {
    name: config.dlq.stream,
    subjects: [`${DLQ_SUBJECT_PREFIX}.>`],
    storage: 'file',
    replicas: dlqReplicas(config, server),
    maxAgeMs: 0,
    duplicateWindowMs: 120_000,
  }
}
