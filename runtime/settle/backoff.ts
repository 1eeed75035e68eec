/** The retry policy of a function, resolved: what `retry` in a function or `defaults` becomes. */
export interface RetryPolicy {
  /** Deliveries a message gets in all, the first included; after the last failure it is dead-lettered. */
  maxDeliver: number
  /** Delay before each redelivery, ms: the n-th failure waits `backoffMs[n-1]`, the last entry repeats. */
  backoffMs: readonly number[]
  /** Spread of each delay, 0..1: a delay d becomes uniformly d·(1 − jitter) .. d·(1 + jitter). */
  jitter: number
}

/**
 * The delay before the next delivery of a message whose `deliveries`-th delivery just failed, ms.
 * `random` is injectable so tests can pin it.
 */
export function backoffDelayMs(deliveries: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const schedule = policy.backoffMs
  if (schedule.length === 0) return 0
  const base = schedule[Math.min(Math.max(deliveries, 1), schedule.length) - 1]!
  const spread = base * policy.jitter * (2 * random() - 1)
  return Math.max(0, Math.round(base + spread))
}

/** Longest wait between tries to store a dead letter the DLQ refused, ms (DESIGN). */
export const DEAD_LETTER_RETRY_CAP_MS = 30_000
/** Shortest wait between such tries, ms: a DLQ that refuses at once must not be hammered. */
const DEAD_LETTER_RETRY_MIN_MS = 1_000

/**
 * The delay before a message whose dead letter could not be stored is delivered again, ms: the
 * function's backoff for its deliveries so far, at least 1 s and at most 30 s.
 */
export function deadLetterRetryDelayMs(deliveries: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return Math.min(DEAD_LETTER_RETRY_CAP_MS, Math.max(DEAD_LETTER_RETRY_MIN_MS, backoffDelayMs(deliveries, policy, random)))
}
