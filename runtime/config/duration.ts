/**
 * Durations as users write them in `fn.config.ts` and `defineFunction` ('250ms', '10s', '1m30s',
 * or a number of milliseconds), normalised to milliseconds before anything else sees them.
 */
import { z } from 'zod'
import { quoteValue } from './format-issues.ts'
import { toMs, UNIT_MS, UNITS_IN_ORDER } from './duration-ms.ts'

/** Why `value` is not a duration, phrased to follow a field name. */
export function durationReason(value: unknown): string {
  return `must be a duration like '10s' or a number of ms (got ${quoteValue(value)})`
}

/**
 * Parses a duration into milliseconds.
 *
 * @param value a non-negative finite number of milliseconds, or a string of one or more
 *   `<number><unit>` parts, units `d` `h` `m` `s` `ms`, largest first: `'250ms'`, `'1.5s'`,
 *   `'1m30s'`, `'7d'`.
 * @returns milliseconds (may be fractional, e.g. `'0.5ms'`).
 * @throws RangeError naming the value when it is anything else (`'10'`, `'-1s'`, `'1 s'`, `NaN`).
 */
export function parseDuration(value: string | number): number {
  const ms = toMs(value)
  if (ms === undefined) throw new RangeError(`invalid duration: ${durationReason(value)}`)
  return ms
}

/** Renders milliseconds the way a user would write them: `1000` → `'1s'`, `90000` → `'1m30s'`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return String(ms)
  if (ms === 0) return '0ms'
  let rest = ms
  let out = ''
  for (const unit of UNITS_IN_ORDER) {
    const size = UNIT_MS[unit]
    const whole = unit === 'ms' ? rest : Math.floor(rest / size)
    if (whole > 0) out += `${whole}${unit}`
    rest -= whole * size
  }
  return out
}

/** Bounds accepted by {@link durationMs}, in milliseconds. */
export interface DurationBounds {
  /** Smallest accepted value, inclusive. Default: 0. */
  min?: number
  /** When true, `min` itself is refused (use with `min: 0` for "must be positive"). Default: false. */
  exclusive?: boolean
  /** Largest accepted value, inclusive. Default: none. */
  max?: number
}

/**
 * A zod schema taking a duration (string or number) and producing milliseconds. Its issues quote
 * the value as written (`must be at least 1s (got '500ms')`), not the converted number, because
 * that is what the user has in front of them.
 */
export function durationMs(bounds: DurationBounds = {}) {
  const { min = 0, exclusive = false, max = Number.POSITIVE_INFINITY } = bounds
  return z
    .custom<string | number>((v) => typeof v === 'string' || typeof v === 'number', {
      error: (iss) => durationReason(iss.input),
    })
    .transform((value, ctx) => {
      const ms = toMs(value)
      if (ms === undefined) {
        ctx.issues.push({ code: 'custom', input: value, message: durationReason(value) })
        return z.NEVER
      }
      if (exclusive ? ms <= min : ms < min) {
        const bound = exclusive ? 'greater than' : 'at least'
        const limit = min === 0 ? '0' : formatDuration(min)
        ctx.issues.push({
          code: 'custom',
          input: value,
          message: `must be ${bound} ${limit} (got ${quoteValue(value)})`,
        })
        return z.NEVER
      }
      if (ms > max) {
        ctx.issues.push({
          code: 'custom',
          input: value,
          message: `must be at most ${formatDuration(max)} (got ${quoteValue(value)})`,
        })
        return z.NEVER
      }
      return ms
    })
}
