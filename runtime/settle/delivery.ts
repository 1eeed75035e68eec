import type { Msg } from '@nats-io/transport-node'

/** A message as delivered by a consumer, with what its `$JS.ACK` reply subject says about it. */
export interface Delivery {
  msg: Msg
  /** The ack subject; acks, naks and heartbeats are published to it. */
  reply: string
  stream: string
  seq: number
  deliveries: number
  /** Stream time of the message, ms since the epoch. */
  timeMs: number
}

/**
 * Parses a `$JS.ACK` reply subject, in its old 9-token form
 * (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>`) or the newer form
 * with domain and account hash in front. Returns undefined for anything else.
 */
const DIGITS = /^\d+$/

export function parseAckSubject(reply: string): Omit<Delivery, 'msg' | 'reply'> | undefined {
  const t = reply.split('.')
  if (t[0] !== '$JS' || t[1] !== 'ACK') return undefined
  const base = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1
  if (base < 0) return undefined
  const [stream, , delivered, sseq, , ns] = t.slice(base, base + 6)
  if (!stream || !DIGITS.test(delivered ?? '') || !DIGITS.test(sseq ?? '') || !DIGITS.test(ns ?? '')) return undefined
  const deliveries = Number(delivered)
  const seq = Number(sseq)
  if (!Number.isSafeInteger(deliveries) || !Number.isSafeInteger(seq) || deliveries < 1) return undefined
  // Milliseconds from the nanosecond timestamp without going through a 64-bit number.
  const timeMs = ns!.length > 6 ? Number(ns!.slice(0, -6)) : 0
  return { stream, seq, deliveries, timeMs }
}
