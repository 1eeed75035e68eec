/**
 * The wait before the next try of something that failed for a reason outside jetfn's control (a
 * registry watch that ended, a deploy that could not be applied): doubling from `minMs` up to
 * `maxMs`, spread by ±`jitter` so that replicas that failed together do not retry together.
 */

/** Options of {@link retryDelayMs}. */
export interface RetryDelayOptions {
  /** Wait before the second try, ms. Default 250. */
  minMs?: number
  /** Longest wait, ms. Default 15 000. */
  maxMs?: number
  /** Spread of each wait, 0..1. Default 0.2. */
  jitter?: number
}

/** The wait before try `attempt + 1`, after `attempt` (≥ 1) failed tries, ms. `random` is injectable for tests. */
export function retryDelayMs(attempt: number, opts: RetryDelayOptions = {}, random: () => number = Math.random): number {
  const min = opts.minMs ?? 250
  const max = opts.maxMs ?? 15_000
  const jitter = opts.jitter ?? 0.2
  // 2 ** 30 is far past any cap: the exponent is bounded so the power stays finite.
  const base = Math.min(max, min * 2 ** Math.min(Math.max(attempt, 1) - 1, 30))
  return Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1))))
}
