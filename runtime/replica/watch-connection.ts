/**
 * Follows a replica's connection status: disconnects and reconnects (the replica reports itself
 * not ready, and pulls again after a reconnect), credentials the server refuses while the replica
 * runs (an expired or revoked user JWT: not ready, saying so, until a reconnect succeeds), and
 * permissions the server refuses, logged once per subject since a refused ack or pull repeats for
 * every message.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { findViolation } from '../nats/permission-denied.ts'

/** What the replica does on each change. */
export interface ConnectionEvents {
  disconnected(server: string): void
  reconnected(server: string): void
  /** The server refused the replica's credentials (`reason`); cleared by the next `reconnected`. */
  credentialsRefused(reason: string): void
}

/** The errors nats.js reports when a server refuses a connection's credentials. */
const REFUSED_CREDENTIALS = /authorization violation|authentication expired|authentication revoked|user authentication/i

/** Follows `nc`'s status until it closes; errors of the watch itself are logged, never thrown. */
export function watchConnection(nc: NatsConnection, log: Logger, on: ConnectionEvents): void {
  const refused = new Set<string>()
  let credentials: string | undefined
  void (async () => {
    for await (const s of nc.status()) {
      const violation = s.type === 'error' ? findViolation(s.error) : undefined
      const authError = s.type === 'error' && !violation && REFUSED_CREDENTIALS.test(String(s.error?.message)) ? String(s.error.message) : undefined
      if (authError) {
        // Said once per reason: a replica retries every 250 ms and would repeat it each time.
        if (credentials !== authError) log.error({ reason: authError }, 'NATS refused this replica\'s credentials: renew them; the replica keeps trying and is not ready meanwhile')
        credentials = authError
        on.credentialsRefused(authError)
      } else if (violation) {
        const key = `${violation.operation} ${violation.subject}`
        if (refused.has(key)) continue
        refused.add(key)
        log.error({ operation: violation.operation, subject: violation.subject }, 'the NATS server refused a permission this replica needs: see `fn auth` (role replica)')
      } else if (s.type === 'disconnect') {
        log.warn({ server: s.server }, 'disconnected from NATS')
        on.disconnected(s.server)
      } else if (s.type === 'reconnect') {
        credentials = undefined
        log.info({ server: s.server }, 'reconnected to NATS')
        on.reconnected(s.server)
      }
    }
  })().catch((err: unknown) => log.error({ err }, 'connection status watch ended'))
}
