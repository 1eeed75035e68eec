/**
 * Errors a handler throws to steer how its message is settled. Every function bundle carries its
 * own copy of these classes, so the runtime must never test them with `instanceof`: it goes by
 * `name` (and `retryAfterMs`). Classify inside the worker thread: structured cloning turns any
 * custom error into a plain `Error`, dropping both (checked on Node 20).
 * Kept free of imports because it is bundled into user code.
 */

/** Name of {@link NonRetryableError}; the runtime matches on it. */
export const NON_RETRYABLE_ERROR_NAME = 'NonRetryableError'
/** Name of {@link RetryAfterError}; the runtime matches on it. */
export const RETRY_AFTER_ERROR_NAME = 'RetryAfterError'

/**
 * Thrown by a handler when retrying cannot help (a malformed order, a deleted account): the
 * message is dead-lettered at once with `Fn-Error-Kind: non-retryable`.
 */
export class NonRetryableError extends Error {
  override readonly name = NON_RETRYABLE_ERROR_NAME

  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/**
 * Thrown by a handler that knows when to try again (a rate limit's `Retry-After`): the message is
 * nak'd with exactly this delay, no backoff or jitter. It still counts as a delivery, so
 * `maxDeliver` bounds it like any failure.
 */
export class RetryAfterError extends Error {
  override readonly name = RETRY_AFTER_ERROR_NAME
  /** Delay before the next delivery, in milliseconds. */
  readonly retryAfterMs: number

  /**
   * @param delayMs delay before the next delivery, in milliseconds; a non-negative finite number.
   * @throws RangeError when `delayMs` is negative, `NaN` or infinite, so the mistake shows up in
   *   the handler's own stack rather than as a mysterious redelivery time.
   */
  constructor(delayMs: number, message?: string, options?: { cause?: unknown }) {
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
      throw new RangeError(`RetryAfterError delay must be a non-negative number of ms (got ${String(delayMs)})`)
    }
    super(message ?? `retry after ${delayMs}ms`, options)
    this.retryAfterMs = delayMs
  }
}

function nameOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined
}

/** True when `err` is a {@link NonRetryableError} from any bundle (matched by name). */
export function isNonRetryable(err: unknown): boolean {
  return nameOf(err) === NON_RETRYABLE_ERROR_NAME
}

/**
 * The delay requested by a {@link RetryAfterError} from any bundle, in milliseconds, or
 * `undefined` when `err` is not one or carries no usable delay.
 */
export function retryAfterMsOf(err: unknown): number | undefined {
  if (nameOf(err) !== RETRY_AFTER_ERROR_NAME) return undefined
  const ms = (err as { retryAfterMs?: unknown }).retryAfterMs
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : undefined
}
