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
 * with domain and account hash in front. Returns undefined for anything else. Runs once per
 * message on the main thread, so it scans characters instead of splitting into strings.
 */
export function parseAckSubject(reply: string): Omit<Delivery, 'msg' | 'reply'> | undefined {
  if (!reply.startsWith('$JS.ACK.')) return undefined
  let count = 0
  for (let i = 0; i < reply.length; i++) {
    if (reply.charCodeAt(i) !== DOT) continue
    if (count === dots.length) return undefined
    dots[count++] = i
  }
  const tokens = count + 1
  const base = tokens === 9 ? 2 : tokens >= 11 ? 4 : -1
  if (base < 0) return undefined
  const start = (k: number): number => dots[k - 1]! + 1
  const end = (k: number): number => (k < count ? dots[k]! : reply.length)
  if (end(base) === start(base)) return undefined
  const deliveries = digits(reply, start(base + 2), end(base + 2))
  const seq = digits(reply, start(base + 3), end(base + 3))
  // Milliseconds from the nanosecond timestamp: its digits but the last six.
  const nsStart = start(base + 5)
  const nsEnd = end(base + 5)
  if (!allDigits(reply, nsStart, nsEnd)) return undefined
  const timeMs = nsEnd - nsStart > 6 ? digits(reply, nsStart, nsEnd - 6) : 0
  if (deliveries < 1 || seq < 0) return undefined
  return { stream: reply.slice(start(base), end(base)), seq, deliveries, timeMs }
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
