/**
 * The generic cell rate algorithm (GCRA), pure: a token bucket kept as one number, the
 * theoretical arrival time (TAT) of the next token. `limit` tokens per `perMs`, with bursts of up
 * to `burst` tokens at once. One number fits one KV value, so every replica of a function shares
 * one bucket with a compare-and-set (see shared-rate.ts).
 */

/** A rate: `limit` per `perMs`, bursts up to `burst` (≥ 1). */
export interface Rate {
  limit: number
  perMs: number
  burst: number
}

/** What a take decided. */
export interface Take {
  /** Tokens granted now, 0 to the number asked for. */
  granted: number
  /** The bucket after the take (unchanged when nothing was granted). */
  tat: number
  /** When nothing was granted: ms until one token is available. Else 0. */
  waitMs: number
}

/** The burst a rate gets when none is given: a tenth of a period's tokens, at least one. */
export function defaultBurst(limit: number): number {
  return Math.max(1, Math.ceil(limit / 10))
}

/**
 * Takes up to `want` tokens at time `now` (ms) from a bucket whose TAT is `tat` (0 for a new one).
 * Over any window of `w` ms at most `limit * w / perMs + burst` tokens are granted.
 */
export function takeTokens(tat: number, now: number, want: number, rate: Rate): Take {
  const interval = rate.perMs / rate.limit
  // The bucket may run ahead of now by at most this much: that is the burst.
  const tolerance = rate.burst * interval
  const start = Math.max(tat, now)
  const room = Math.floor((now + tolerance - start) / interval + 1e-9)
  const granted = Math.max(0, Math.min(want, room))
  if (granted === 0) return { granted: 0, tat, waitMs: Math.max(1, Math.ceil(start + interval - tolerance - now)) }
  return { granted, tat: start + granted * interval, waitMs: 0 }
}
