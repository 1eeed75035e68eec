/**
 * Ends a connection however the server is doing: drained when it can be, closed in any case.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'

/** How long draining may take before the connection is closed instead, ms. */
export const CONNECTION_DRAIN_MS = 2_000

/**
 * Drains `nc` within {@link CONNECTION_DRAIN_MS} and closes it in any case. While the server is
 * unreachable a drain never ends (its final flush waits for a PONG) and the client goes on
 * reconnecting: closing is what lets the process exit. `disconnected`: known to be unreachable now,
 * so the drain is not even tried.
 */
export async function closeConnection(nc: NatsConnection, opts: { disconnected: boolean; log: Logger }): Promise<void> {
  const { log } = opts
  try {
    if (opts.disconnected) {
      log.warn('NATS unreachable: closing the connection without draining it')
      return
    }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), CONNECTION_DRAIN_MS)))
    const result = await Promise.race([nc.drain().then(() => 'drained' as const), timeout]).finally(() => clearTimeout(timer))
    if (result === 'timeout') log.warn({ timeoutMs: CONNECTION_DRAIN_MS }, 'connection drain did not finish in time: closing it')
  } finally {
    if (!nc.isClosed()) await nc.close()
  }
}
