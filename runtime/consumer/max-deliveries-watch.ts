/**
 * The server-side `max_deliver` of jetfn's consumers is unlimited, so the server never drops a
 * message on its own. A consumer changed by another tool could still have one: the advisory the
 * server sends when it gives a message up is the only trace, so it is logged as an error.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { guardCallback } from '../nats/guard-callback.ts'

/** Subscribes to the MAX_DELIVERIES advisories of one consumer; undefined when that is refused. */
export function watchMaxDeliveries(nc: NatsConnection, stream: string, consumer: string, log: Logger): Subscription | undefined {
  const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`
  try {
    return nc.subscribe(subject, {
      callback: guardCallback(log, subject, (m) => {
        let advisory: { stream_seq?: number; deliveries?: number } = {}
        try {
          advisory = m.json()
        } catch {
          // An unreadable advisory is still logged, without its details.
        }
        log.error(
          { consumer, stream, streamSeq: advisory.stream_seq, deliveries: advisory.deliveries },
          "the server gave up on a message (max_deliver reached): it is no longer delivered; the consumer's max_deliver should be -1",
        )
      }),
    })
  } catch (err) {
    log.warn({ err, subject }, 'cannot watch max-deliveries advisories')
    return undefined
  }
}
