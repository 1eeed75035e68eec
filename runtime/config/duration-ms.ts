/**
 * Durations to milliseconds, with no dependency: what handler threads use (`ctx.publish` `delay`),
 * where zod is not loaded. `duration.ts` builds the schemas and messages on it.
 */

export const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const

// Units must come largest first and at most once each, so '30s1m' or '1s1s' (almost always a typo)
// is refused rather than silently summed. The optional groups backtrack, which is how '5ms' is not
// read as '5m' followed by a stray 's'.
const NUMBER = String.raw`(\d+(?:\.\d+)?)`
const DURATION_RE = new RegExp(
  `^(?:${NUMBER}d)?(?:${NUMBER}h)?(?:${NUMBER}m)?(?:${NUMBER}s)?(?:${NUMBER}ms)?$`,
)
export const UNITS_IN_ORDER = ['d', 'h', 'm', 's', 'ms'] as const

/** Milliseconds of `value`, or `undefined` when it is not a duration. */
export function toMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined
  if (typeof value !== 'string' || value === '') return undefined
  const match = DURATION_RE.exec(value)
  if (match === null) return undefined
  let ms = 0
  UNITS_IN_ORDER.forEach((unit, i) => {
    const amount = match[i + 1]
    if (amount !== undefined) ms += Number(amount) * UNIT_MS[unit]
  })
  return ms
}

