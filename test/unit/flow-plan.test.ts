import { describe, expect, it } from 'vitest'
import { BATCH_BLOCKING_MS, batchCap, DEFAULT_MAX_BATCH, fillBatches, holdLimits, keepAliveMs, MAX_PREFETCH, MAX_PREFETCH_BYTES, planDispatch, PREFETCH_MS } from '../../runtime/consumer/flow-plan.ts'

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

describe('holdLimits with the function pace', () => {
  it(`gives a fast function ${PREFETCH_MS} ms of work for its slots, at most ${MAX_PREFETCH} messages`, () => {
    // A no-op at the default concurrency of 8: the cap.
    expect(holdLimits(8, { meanMs: 0.005, meanBytes: 100 }).prefetch).toBe(MAX_PREFETCH)
    // 2 ms handlers at 8: 40 messages keep 8 slots busy for 10 ms.
    expect(holdLimits(8, { meanMs: 2, meanBytes: 100 }).prefetch).toBe(40)
  })

  it('keeps a quarter of concurrency for a slow function, and before its pace is known', () => {
    expect(holdLimits(8, { meanMs: 500, meanBytes: 100 }).prefetch).toBe(2)
    expect(holdLimits(8).prefetch).toBe(2)
  })

  it(`holds at most ${MAX_PREFETCH_BYTES / 1024 / 1024} MiB of payload in a fast function's prefetch`, () => {
    const big = holdLimits(8, { meanMs: 0.01, meanBytes: 1024 * 1024 })
    expect(big.prefetch).toBe(16)
    // Never below a quarter of concurrency, whatever the payloads.
    expect(holdLimits(400, { meanMs: 0.01, meanBytes: 1024 * 1024 }).prefetch).toBe(100)
  })
})

describe('fillBatches and batchCap', () => {
  it('adds waiting messages to each batch beyond its slots, up to the batch cap', () => {
    expect(fillBatches([4, 4], 500, 256)).toEqual([
      { count: 254, slots: 4 },
      { count: 254, slots: 4 },
    ])
    expect(fillBatches([4, 4], 1_000, 256)).toEqual([
      { count: 256, slots: 4 },
      { count: 256, slots: 4 },
    ])
    expect(fillBatches([4, 4], 10, 256)).toEqual([
      { count: 9, slots: 4 },
      { count: 9, slots: 4 },
    ])
    expect(fillBatches([3], 0, 256)).toEqual([{ count: 3, slots: 3 }])
  })

  it('caps a batch by its blocking time', () => {
    expect(batchCap(undefined)).toBe(DEFAULT_MAX_BATCH)
    expect(batchCap(0.001)).toBe(DEFAULT_MAX_BATCH)
    expect(batchCap(5)).toBe(BATCH_BLOCKING_MS / 5)
    expect(batchCap(500)).toBe(1)
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
