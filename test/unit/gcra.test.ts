import { describe, expect, it } from 'vitest'
import { defaultBurst, takeTokens, type Rate } from '../../runtime/rate/gcra.ts'

const rate: Rate = { limit: 50, perMs: 1_000, burst: 5 }

describe('takeTokens', () => {
  it('grants a burst at once from a new bucket, then nothing until the next token is due', () => {
    const first = takeTokens(0, 10_000, 100, rate)
    expect(first).toEqual({ granted: 5, tat: 10_100, waitMs: 0 })
    const next = takeTokens(first.tat, 10_000, 1, rate)
    expect(next).toEqual({ granted: 0, tat: 10_100, waitMs: 20 })
    expect(takeTokens(first.tat, 10_020, 10, rate).granted).toBe(1)
  })

  it('never grants more than limit * window / per + burst over any window', () => {
    // Greedy takers at random moments, one shared bucket: count grants per sliding window.
    let tat = 0
    const grants: Array<[number, number]> = []
    let now = 0
    let seed = 7
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647)
    while (now < 20_000) {
      now += random() * 15
      const t = takeTokens(tat, now, 1 + Math.floor(random() * 8), rate)
      tat = t.tat
      if (t.granted > 0) grants.push([now, t.granted])
    }
    const total = grants.reduce((s, [, n]) => s + n, 0)
    expect(total).toBeGreaterThan(50 * 19)
    for (const window of [500, 1_000, 2_000]) {
      for (const [start] of grants) {
        const inWindow = grants.filter(([t]) => t >= start && t < start + window).reduce((s, [, n]) => s + n, 0)
        expect(inWindow).toBeLessThanOrEqual((50 * window) / 1_000 + rate.burst)
      }
    }
  })

  it('does not bank unused time: a bucket idle for a minute grants one burst, not a minute of tokens', () => {
    const t = takeTokens(1_000, 61_000, 1_000, rate)
    expect(t.granted).toBe(5)
  })

  it('gives a tenth of a period as the default burst, at least one', () => {
    expect([defaultBurst(1), defaultBurst(50), defaultBurst(1_000)]).toEqual([1, 5, 100])
  })
})
