/**
 * How many replicas jetfn's own streams (`FN_FUNCTIONS`, `FN_BUNDLES`, the DLQ, `FN_DLQ_PAYLOADS`)
 * get: as the cluster allows, unless `fn.config.ts` says (`jetfn.replicas`).
 */
import type { ServerInfo } from '@nats-io/transport-node'

/** Replicas of jetfn's own streams on a cluster of this many nodes or more. */
export const OWN_REPLICAS_ON_CLUSTER = 3

/**
 * Replicas for jetfn's own streams.
 *
 * The cluster's size is read from the server's INFO (no system account needed): a server outside
 * a cluster sends no `cluster`; one inside sends `connect_urls`, the client URLs of every node it
 * has a route to, itself included (checked on nats-server 2.15.1; nats.js keeps `nc.info` current
 * as nodes come and go). A cluster that advertises no URLs (`no_advertise`) is taken to be large
 * enough for {@link OWN_REPLICAS_ON_CLUSTER}.
 *
 * @param info the connected server's INFO (`nc.info`).
 * @param configured `jetfn.replicas` from `fn.config.ts`; wins when set.
 * @returns 1 on a single server, the number of nodes up to 3 on a cluster, or `configured`.
 */
export function ownReplicas(info: Pick<ServerInfo, 'cluster' | 'connect_urls'> | undefined, configured?: number): number {
  if (configured !== undefined) return configured
  if (!info?.cluster) return 1
  const nodes = new Set(info.connect_urls ?? []).size
  if (nodes === 0) return OWN_REPLICAS_ON_CLUSTER
  return Math.min(OWN_REPLICAS_ON_CLUSTER, nodes)
}
