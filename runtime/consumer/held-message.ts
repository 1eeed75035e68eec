/**
 * A delivery as a function consumer holds it: what settling needs (see Delivery), plus what the
 * consumer learns about it on the way. Built on the client's socket reader, so building one
 * never throws: headers are read by {@link readHeaders}, which never does.
 */
import type { Msg } from '@nats-io/transport-node'
import type { Delivery } from '../settle/delivery.ts'
import { readHeaders } from './read-headers.ts'

export interface Held extends Delivery {
  lastSeenAt: number
  /** Its index in the consumer's HeldSet while held. */
  heldAt: number
  /** Handler run time, once its outcome is known. */
  durationMs?: number | undefined
  /** The version it ran on. */
  version?: string | undefined
  /** Succeeded: its ack is queued or on its way. */
  acking?: boolean
  /** Its key, for a keyed function (computed before it is queued). */
  key?: string | undefined
  /** Keyed: handed out to run (see KeyedQueue). */
  started?: boolean
  /** Nak'd: the server holds it for redelivery (it still holds its key, when ordered). */
  handedBack?: boolean
  /** An ack, nak or dead letter has been sent for it (a takeover's count of pending messages skips it). */
  settling?: boolean
  /** Its headers could not be read: why, and the raw header block. */
  undecodable?: { reason: string; raw: Uint8Array } | undefined
}

/**
 * A held message from a delivered one; seq, deliveries and time are filled from its ack subject
 * by the caller. A function's messages mostly share a subject: `lastSubject` is reused when equal,
 * so that held messages keep one string rather than one each.
 */
export function toHeld(msg: Msg, stream: string, lastSubject: string): Held {
  const subject = msg.subject === lastSubject ? lastSubject : msg.subject
  const read = readHeaders(msg)
  return {
    subject,
    data: msg.data,
    headers: read.ok ? read.headers : null,
    reply: msg.reply!,
    stream,
    seq: 0,
    deliveries: 0,
    timeMs: 0,
    lastSeenAt: Date.now(),
    heldAt: -1,
    durationMs: undefined,
    version: undefined,
    acking: false,
    undecodable: read.ok ? undefined : { reason: read.reason, raw: read.raw },
  }
}
