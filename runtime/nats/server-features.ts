/**
 * Features of nats-server that jetfn uses only where the connected server has them, with the
 * version that brought each (NATS-NOTES). A command that needs a newer server is refused before
 * it changes anything, naming both versions.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { compareVersions } from './nats-server-bin.ts'

/** Each feature and the first nats-server version that has it. */
export const SERVER_FEATURES = {
  'consumer pause': '2.11.0',
  /** Ordering and concurrency per key: one replica at a time runs a keyed function. */
  'pinned consumers (key, concurrency.key)': '2.11.0',
  /** `@at` message schedules: delayed outputs (`ctx.publish` `delay` / `at`), `debounce`. */
  'delayed messages': '2.12.0',
  /** Cron, `@every` and time zones in message schedules: `schedule`. */
  'cron schedules': '2.14.0',
} as const

export type ServerFeature = keyof typeof SERVER_FEATURES

/** The reason `version` lacks `feature`, or null when it has it. */
export function missingFeature(feature: ServerFeature, version: string): string | null {
  const needed = SERVER_FEATURES[feature]
  return compareVersions(version, needed) < 0 ? `${feature} needs nats-server ${needed} or newer; the server connected is ${version}` : null
}

/** Throws `FN_SERVER_UNSUPPORTED` unless the server `nc` is connected to has `feature`. */
export function requireFeature(nc: NatsConnection, feature: ServerFeature): void {
  const version = nc.info?.version ?? '0.0.0'
  const reason = missingFeature(feature, version)
  if (reason) throw new FnError(FnErrorCode.ServerUnsupported, reason, { hint: UPGRADE_HINT })
}

/** What to do about a server too old for a feature. */
export const UPGRADE_HINT = 'upgrade nats-server (every node of the cluster)'

/** Whether server `version` has `feature`. */
export function hasFeature(feature: ServerFeature, version: string | undefined): boolean {
  return missingFeature(feature, version ?? '0.0.0') === null
}
