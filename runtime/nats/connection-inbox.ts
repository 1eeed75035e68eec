import { createInbox, type NatsConnection } from '@nats-io/transport-node'

/**
 * A new inbox subject under the connection's `inboxPrefix` (each role of `fn auth` has its own
 * and may subscribe only there). nats.js builds its own inboxes from `nc.options.inboxPrefix`
 * the same way; the option is not on the `NatsConnection` type, hence the cast.
 */
export function connectionInbox(nc: NatsConnection): string {
  return createInbox((nc as unknown as { options?: { inboxPrefix?: string } }).options?.inboxPrefix)
}
