import { describe, expect, it } from 'vitest'
import { backoffDelayMs, type RetryPolicy } from '../../runtime/settle/backoff.ts'

const schedule = [1_000, 5_000, 30_000]
/** No jitter, so the delay is the schedule entry itself. */
const exact: RetryPolicy = { maxDeliver: 10, backoffMs: schedule, jitter: 0 }
const random = (value: number) => () => value

describe('backoffDelayMs', () => {
  it.each([
    [1, 1_000],
    [2, 5_000],
    [3, 30_000],
  ])('waits the schedule entry of the failure: delivery %d → %d ms', (deliveries, ms) => {
    expect(backoffDelayMs(deliveries, exact, random(0.5))).toBe(ms)
  })

  it.each([4, 5, 100])('repeats the last entry once the schedule runs out: delivery %d → 30000 ms', (deliveries) => {
    expect(backoffDelayMs(deliveries, exact, random(0.5))).toBe(30_000)
  })

  it.each([0, -3])('treats delivery %d as the first', (deliveries) => {
    expect(backoffDelayMs(deliveries, exact, random(0.5))).toBe(1_000)
  })

  it('ignores random when jitter is 0', () => {
    expect(backoffDelayMs(2, exact, random(0))).toBe(5_000)
    expect(backoffDelayMs(2, exact, random(1))).toBe(5_000)
  })

  describe('with jitter 0.2', () => {
    const jittered: RetryPolicy = { maxDeliver: 10, backoffMs: schedule, jitter: 0.2 }

    it.each([
      [0, 800],
      [0.25, 900],
      [0.5, 1_000],
      [0.75, 1_100],
      [1, 1_200],
    ])('random %d spreads 1000 ms to %d ms', (r, ms) => {
      expect(backoffDelayMs(1, jittered, random(r))).toBe(ms)
    })

    it('stays within d·(1 − jitter) .. d·(1 + jitter) for the repeated last entry', () => {
      expect(backoffDelayMs(7, jittered, random(0))).toBe(24_000)
      expect(backoffDelayMs(7, jittered, random(1))).toBe(36_000)
    })

    it('returns whole milliseconds', () => {
      // 333 · 0.2 · (2·0.3 − 1) = −26.64 → 306.36 → 306
      const odd: RetryPolicy = { maxDeliver: 3, backoffMs: [333], jitter: 0.2 }
      expect(backoffDelayMs(1, odd, random(0.3))).toBe(306)
    })
  })

  it('uses Math.random by default and stays within the jitter bounds', () => {
    const jittered: RetryPolicy = { maxDeliver: 10, backoffMs: [1_000], jitter: 0.5 }
    for (let i = 0; i < 200; i++) {
      const ms = backoffDelayMs(1, jittered)
      expect(ms).toBeGreaterThanOrEqual(500)
      expect(ms).toBeLessThanOrEqual(1_500)
    }
  })

  it('is never negative, even with jitter above 1', () => {
    const wild: RetryPolicy = { maxDeliver: 3, backoffMs: [1_000], jitter: 1.5 }
    // 1000 · (1 − 1.5) = −500
    expect(backoffDelayMs(1, wild, random(0))).toBe(0)
    expect(backoffDelayMs(1, wild, random(1))).toBe(2_500)
  })

  it('is 0 with an empty schedule', () => {
    const none: RetryPolicy = { maxDeliver: 5, backoffMs: [], jitter: 0.5 }
    expect(backoffDelayMs(1, none, random(1))).toBe(0)
    expect(backoffDelayMs(4, none, random(0))).toBe(0)
  })

  it('is 0 for a 0 ms entry whatever the jitter', () => {
    const immediate: RetryPolicy = { maxDeliver: 5, backoffMs: [0, 2_000], jitter: 0.5 }
    expect(backoffDelayMs(1, immediate, random(1))).toBe(0)
    expect(backoffDelayMs(2, immediate, random(1))).toBe(3_000)
  })
})
