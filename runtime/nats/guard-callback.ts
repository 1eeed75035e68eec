/**
 * Wraps a subscription callback so that it can never throw. nats.js runs subscription callbacks
 * on its socket reader; a throw there closes the reader and the connection stops receiving
 * anything, for every function of the replica (NATS-NOTES, failure behaviour).
 */
import type { Msg } from '@nats-io/transport-node'
import type { Logger } from 'pino'

/** A `callback` for `nc.subscribe` that logs what `handle` throws instead of letting it reach the reader. */
export function guardCallback(log: Logger, what: string, handle: (msg: Msg) => void, onError?: (err: Error) => void): (err: Error | null, msg: Msg) => void {
  return (err, msg) => {
    try {
      if (err) {
        if (onError) onError(err)
        else log.warn({ err, subscription: what }, 'subscription error')
        return
      }
      handle(msg)
    } catch (thrown) {
      try {
        log.error({ err: thrown, subscription: what }, 'message handler threw; message skipped, connection kept')
      } catch {
        // A logger that throws must not take the socket reader down either.
      }
    }
  }
}
