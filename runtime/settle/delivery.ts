import type { WireHeaders } from '../pool/protocol.ts'

/**
 * A message as delivered by a consumer, with what its `$JS.ACK` reply subject says about it.
 * It keeps only what settling needs, not the client's `Msg`: a replica holds thousands of these
 * for tens of milliseconds, long enough to be copied by the young-generation GC and promoted, and
 * each `Msg` brought four more objects along (its parser arguments and their byte views).
 */
export interface Delivery {
  subject: string
  /** The payload: a view into the socket's read buffer, never transferred. */
  data: Uint8Array
  /** Its headers as read by `readHeaders` (null when it has none, or they could not be read). */
  headers: WireHeaders
  /** The ack subject; acks, naks and heartbeats are published to it. */
  reply: string
  stream: string
  seq: number
  deliveries: number
  /** Stream time of the message, ms since the epoch. */
  timeMs: number
}

/** What a `$JS.ACK` reply subject says about its message. */
export type AckInfo = Pick<Delivery, 'stream' | 'seq' | 'deliveries' | 'timeMs'>

/**
 * Parses a `$JS.ACK` reply subject, in its old 9-token form
 * (`$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>`) or the newer form
 * with domain and account hash in front. Returns undefined for anything else. Runs once per
 * message on the main thread, so it scans characters instead of splitting into strings.
 */
export function parseAckSubject(reply: string): AckInfo | undefined {
  const info = { stream: '', seq: 0, deliveries: 0, timeMs: 0 }
  return parseAckSubjectInto(reply, info) ? info : undefined
}

/** {@link parseAckSubject} into an existing object (no allocation but the stream name); false if unreadable. */
export function parseAckSubjectInto(reply: string, into: AckInfo): boolean {
  if (!reply.startsWith('$JS.ACK.')) return false
  let count = 0
  for (let i = 0; i < reply.length; i++) {
    if (reply.charCodeAt(i) !== DOT) continue
    if (count === dots.length) return false
    dots[count++] = i
  }
  const tokens = count + 1
  const base = tokens === 9 ? 2 : tokens >= 11 ? 4 : -1
  if (base < 0) return false
  // No closures here: tsx's keepNames wraps each one in a defineProperty call per invocation.
  if (tokenEnd(reply, base, count) === tokenStart(base)) return false
  const deliveries = digits(reply, tokenStart(base + 2), tokenEnd(reply, base + 2, count))
  const seq = digits(reply, tokenStart(base + 3), tokenEnd(reply, base + 3, count))
  // Milliseconds from the nanosecond timestamp: its digits but the last six.
  const nsStart = tokenStart(base + 5)
  const nsEnd = tokenEnd(reply, base + 5, count)
  if (!allDigits(reply, nsStart, nsEnd)) return false
  const timeMs = nsEnd - nsStart > 6 ? digits(reply, nsStart, nsEnd - 6) : 0
  if (deliveries < 1 || seq < 0) return false
  const stream = reply.slice(tokenStart(base), tokenEnd(reply, base, count))
  // One stream per consumer: keep the string already held rather than a new copy per message.
  if (into.stream !== stream) into.stream = stream
  into.seq = seq
  into.deliveries = deliveries
  into.timeMs = timeMs
  return true
}

/** Where token `k` (0-based) starts, given the dot positions in `dots`; k >= 1. */
function tokenStart(k: number): number {
  return dots[k - 1]! + 1
}

function tokenEnd(s: string, k: number, count: number): number {
  return k < count ? dots[k]! : s.length
}

const DOT = 46
const dots = new Int32Array(16)

/** The decimal number in `s[from, to)`, or -1 if it is empty, has a non-digit, or is not a safe integer. */
function digits(s: string, from: number, to: number): number {
  if (to <= from) return -1
  let n = 0
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48
    if (c < 0 || c > 9) return -1
    n = n * 10 + c
  }
  return Number.isSafeInteger(n) ? n : -1
}

function allDigits(s: string, from: number, to: number): boolean {
  if (to <= from) return false
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}
