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
