import { describe, expect, it } from 'vitest'
import { BATCH_BLOCKING_MS, holdLimits, keepAliveMs, planDispatch } from '../../runtime/consumer/flow-plan.ts'

describe('holdLimits', () => {
  it.each([
    [1, { prefetch: 1, limit: 2, minPull: 1 }],
    [4, { prefetch: 1, limit: 5, minPull: 1 }],
    [64, { prefetch: 16, limit: 80, minPull: 10 }],
    [4000, { prefetch: 1000, limit: 5000, minPull: 625 }],
  ])('concurrency %i: %o', (concurrency, limits) => {
    expect(holdLimits(concurrency)).toEqual(limits)
  })

  it('lets a function lowered from 64 to 4 still pull (its pull size follows)', () => {
    const after = holdLimits(4)
    // Room for a whole pull within what it may hold: it never waits for more slots than it has.
    expect(after.minPull).toBeLessThanOrEqual(after.limit)
    expect(holdLimits(64).minPull).toBeGreaterThan(after.limit)
  })
})

describe('keepAliveMs', () => {
  it('is a third of ack_wait, at least 250 ms', () => {
    expect(keepAliveMs(30_000)).toBe(10_000)
    expect(keepAliveMs(3_000)).toBe(1_000)
    expect(keepAliveMs(500)).toBe(250)
  })
})

describe('planDispatch', () => {
  const base = { free: 100, queued: 100, running: 0, blockingMs: undefined, threads: 2, idleThreads: 2 }

  it('waits with nothing queued or no free slot', () => {
    expect(planDispatch({ ...base, queued: 0 })).toEqual([])
    expect(planDispatch({ ...base, free: 0 })).toEqual([])
  })

  it('takes no more than the free slots', () => {
    expect(planDispatch({ ...base, free: 10, queued: 100 }).reduce((a, b) => a + b, 0)).toBe(10)
  })

  it('sends a small dispatch of a function not measured yet to one thread', () => {
    expect(planDispatch({ ...base, queued: 7 })).toEqual([7])
  })

  it('spreads a large dispatch over the threads', () => {
    expect(planDispatch({ ...base, queued: 100 })).toEqual([50, 50])
  })

  it('cuts batches of CPU-bound work to the blocking budget', () => {
    const plan = planDispatch({ ...base, free: 100, queued: 100, blockingMs: 5 })
    expect(Math.max(...plan)).toBeLessThanOrEqual(BATCH_BLOCKING_MS / 5)
    expect(plan.reduce((a, b) => a + b, 0)).toBe(100)
  })

  it('waits for a full batch while every thread has a full batch of CPU-bound work ahead', () => {
    expect(planDispatch({ ...base, free: 1, queued: 50, running: 100, blockingMs: 1, idleThreads: 0 })).toEqual([])
    expect(planDispatch({ ...base, free: 50, queued: 50, running: 100, blockingMs: 1, idleThreads: 0 })).toEqual([50])
  })

  it('respects maxBatch', () => {
    expect(planDispatch({ ...base, queued: 100, threads: 1, idleThreads: 1, maxBatch: 30 })).toEqual([25, 25, 25, 25])
  })
})
