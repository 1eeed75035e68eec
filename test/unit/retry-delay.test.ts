import { describe, expect, it } from 'vitest'
import { retryDelayMs } from '../../runtime/replica/retry-delay.ts'

const mid = (): number => 0.5

describe('retryDelayMs', () => {
  it('doubles from the minimum after each failed try', () => {
    expect([1, 2, 3, 4].map((a) => retryDelayMs(a, {}, mid))).toEqual([250, 500, 1_000, 2_000])
  })

  it('stops growing at the cap, however many tries failed', () => {
    expect(retryDelayMs(7, {}, mid)).toBe(15_000)
    expect(retryDelayMs(10_000, {}, mid)).toBe(15_000)
    expect(retryDelayMs(3, { minMs: 1_000, maxMs: 2_500 }, mid)).toBe(2_500)
  })

  it('spreads each wait by the jitter, both ways', () => {
    expect(retryDelayMs(1, { jitter: 0.2 }, () => 0)).toBe(200)
    expect(retryDelayMs(1, { jitter: 0.2 }, () => 1)).toBe(300)
    expect(retryDelayMs(1, { jitter: 0 }, () => 0)).toBe(250)
  })

  it('treats an attempt below 1 as the first', () => {
    expect(retryDelayMs(0, {}, mid)).toBe(250)
  })
})
