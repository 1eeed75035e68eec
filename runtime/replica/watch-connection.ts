/**
 * Follows a replica's connection status: disconnects and reconnects (the replica reports itself
 * not ready, and pulls again after a reconnect), and permissions the server refuses, logged once
 * per subject since a refused ack or pull repeats for every message.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { findViolation } from '../nats/permission-denied.ts'

/** What the replica does on each change. */
export interface ConnectionEvents {
  disconnected(server: string): void
  reconnected(server: string): void
}

/** Follows `nc`'s status until it closes; errors of the watch itself are logged, never thrown. */
export function watchConnection(nc: NatsConnection, log: Logger, on: ConnectionEvents): void {
  const refused = new Set<string>()
  void (async () => {
    for await (const s of nc.status()) {
      const violation = s.type === 'error' ? findViolation(s.error) : undefined
      if (violation) {
        const key = `${violation.operation} ${violation.subject}`
        if (refused.has(key)) continue
        refused.add(key)
        log.error({ operation: violation.operation, subject: violation.subject }, 'the NATS server refused a permission this replica needs: see `fn auth` (role replica)')
      } else if (s.type === 'disconnect') {
        log.warn({ server: s.server }, 'disconnected from NATS')
        on.disconnected(s.server)
      } else if (s.type === 'reconnect') {
        log.info({ server: s.server }, 'reconnected to NATS')
        on.reconnected(s.server)
      }
    }
  })().catch((err: unknown) => log.error({ err }, 'connection status watch ended'))
}
