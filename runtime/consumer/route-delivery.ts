/**
 * Where one delivery goes before any handler sees it, pure: handed back (the consumer is not
 * running), dead-lettered without running (its dead letter was refused before, its headers cannot
 * be read, or its tries were used up by crashes), acked without running (a replay meant for
 * another function, or a message stored after the `fn replay` this consumer runs began), or
 * queued to run.
 */
import { REPLAY_FOR_HEADER } from '../dlq/replay-message.ts'
import type { ErrorKind, WireError, WireHeaders } from '../pool/protocol.ts'
import type { RetryPolicy } from '../settle/backoff.ts'
import type { BlockedFailure } from '../settle/dead-lettering.ts'
import { isPastMaxDeliver } from '../settle/decide.ts'
import { headerValue } from './read-headers.ts'

export type Route =
  | { to: 'release' }
  | { to: 'dead-letter'; errorKind: ErrorKind; error: WireError; version?: string }
  | { to: 'skip'; replayFor: string }
  | { to: 'skip'; pastReplay: number }
  | { to: 'queue' }

/** What routing needs to know of a delivery. */
export interface RoutedDelivery {
  seq: number
  deliveries: number
  headers: WireHeaders
  undecodable?: { reason: string } | undefined
}

/** What routing needs to know of the function and its consumer. */
export interface RouteContext {
  running: boolean
  fn: string
  retry: RetryPolicy
  /** The failure the message had when its dead letter was refused, if it was. */
  blocked: BlockedFailure | undefined
  /** On a replay's consumer: the last stream sequence it re-runs (later ones are the function's own). */
  throughSeq?: number | undefined
}

const QUEUE: Route = { to: 'queue' }
const RELEASE: Route = { to: 'release' }

export function routeDelivery(d: RoutedDelivery, c: RouteContext): Route {
  if (!c.running) return RELEASE
  if (c.throughSeq !== undefined && d.seq > c.throughSeq) return { to: 'skip', pastReplay: c.throughSeq }
  // Failed before and its dead letter could not be stored then: store it now, as it failed.
  if (c.blocked) return { to: 'dead-letter', errorKind: c.blocked.errorKind, error: c.blocked.error, version: c.blocked.version }
  if (d.undecodable) return { to: 'dead-letter', errorKind: 'decode', error: { name: 'HeaderDecodeError', message: `headers cannot be decoded: ${d.undecodable.reason}` } }
  if (isPastMaxDeliver(d.deliveries, c.retry)) {
    const message = `arrived on delivery ${d.deliveries} of ${c.retry.maxDeliver}: earlier tries crashed or their replica died`
    return { to: 'dead-letter', errorKind: 'max-deliver', error: { name: 'MaxDeliverError', message } }
  }
  // `fn dlq replay` of another function's dead letter: that function alone runs it again.
  const replayFor = d.headers ? headerValue(d.headers, REPLAY_FOR_HEADER) : undefined
  if (replayFor !== undefined && replayFor !== c.fn) return { to: 'skip', replayFor }
  return QUEUE
}
