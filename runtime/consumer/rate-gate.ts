/**
 * The rate limit of one function in one replica: runs start only with a token from the function's
 * bucket shared by every replica (shared-rate.ts). Tokens are fetched as the queue needs them, a
 * burst at a time, and spent when a batch is dispatched; messages without one wait in the queue
 * (kept alive like any held message) and are never dead-lettered for it. While the bucket is
 * empty, the gate waits until the next token is due and tells the dispatcher to try again.
 */
import type { Logger } from 'pino'
import type { ResolvedRateLimit } from '../function/function-options.ts'
import type { Take } from '../rate/gcra.ts'

/** Takes up to `want` tokens from a function's shared bucket. */
export type TakeTokens = (fn: string, want: number, rate: ResolvedRateLimit) => Promise<Take>

/** Options of {@link RateGate}. */
export interface RateGateOptions {
  fn: string
  rate: ResolvedRateLimit
  take: TakeTokens
  /** Tokens arrived, or the wait for them is over: dispatch again. */
  ready: () => void
  log: Logger
}

/** After a failed take (NATS unreachable, bucket missing), how long before the next try, ms. */
const RETRY_MS = 1_000

export class RateGate {
  readonly #o: RateGateOptions
  #tokens = 0
  /** Tokens fetched but unspent are dropped after the span of a burst: banking them would allow bursts. */
  #tokensUntil = 0
  #fetching = false
  #timer: NodeJS.Timeout | undefined
  #closed = false
  #failing = false

  constructor(opts: RateGateOptions) {
    this.#o = opts
  }

  /** The rate this gate enforces. */
  get rate(): ResolvedRateLimit {
    return this.#o.rate
  }

  /** Spends up to `want` tokens on hand and returns how many; asks for more when short. */
  claim(want: number): number {
    if (Date.now() > this.#tokensUntil) this.#tokens = 0
    const got = Math.min(want, this.#tokens)
    this.#tokens -= got
    if (got < want) this.#fetch(want - got)
    return got
  }

  /** Gives back tokens claimed and not used (the dispatch sent fewer than it claimed). */
  unclaim(n: number): void {
    this.#tokens += n
  }

  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
  }

  #fetch(want: number): void {
    if (this.#fetching || this.#timer || this.#closed) return
    this.#fetching = true
    this.#o.take(this.#o.fn, Math.min(want, this.#o.rate.burst), this.#o.rate).then(
      (take) => {
        this.#fetching = false
        if (this.#closed) return
        if (this.#failing) this.#o.log.info('rate limit bucket readable again')
        this.#failing = false
        if (take.granted > 0) {
          this.#tokens += take.granted
          // Spent within the burst's own span or dropped: tokens kept longer would start together
          // later (a busy event loop spends them late) and exceed the limit over a window.
          this.#tokensUntil = Date.now() + Math.max(50, (this.#o.rate.burst * this.#o.rate.perMs) / this.#o.rate.limit)
          this.#o.ready()
        } else this.#wait(take.waitMs)
      },
      (err: unknown) => {
        this.#fetching = false
        if (this.#closed) return
        if (!this.#failing) this.#o.log.warn({ err }, 'rate limit bucket not readable: messages wait until it is')
        this.#failing = true
        this.#wait(RETRY_MS)
      },
    )
  }

  #wait(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#o.ready()
    }, ms)
  }
}

/**
 * The gate a function version needs: `current` when the rate is unchanged (a redeploy keeps the
 * tokens on hand), a new one when it changed (the old one is closed), none without a limit.
 */
export function gateFor(current: RateGate | undefined, fn: { name: string; rateLimit?: ResolvedRateLimit | undefined }, take: TakeTokens | undefined, ready: () => void, log: Logger): RateGate | undefined {
  const rate = fn.rateLimit
  if (current && rate && JSON.stringify(current.rate) === JSON.stringify(rate)) return current
  current?.close()
  if (!rate) return undefined
  if (!take) throw new Error(`function ${fn.name} has a rate limit but the replica has no shared rate bucket`)
  return new RateGate({ fn: fn.name, rate, take, ready, log })
}
