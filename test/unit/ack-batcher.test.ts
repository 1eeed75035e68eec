import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ACK_DELAY_MS, ACK_GROUP, ACK_SOON, AckBatcher } from '../../runtime/consumer/ack-batcher.ts'

describe('AckBatcher', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it(`sends a few acks together ${ACK_DELAY_MS} ms after the first`, () => {
    const sent: number[][] = []
    const b = new AckBatcher<number>((g) => sent.push(g))
    b.add(1)
    b.add(2)
    expect(sent).toEqual([])
    vi.advanceTimersByTime(ACK_DELAY_MS)
    expect(sent).toEqual([[1, 2]])
  })

  it(`sends at the end of the turn once ${ACK_SOON} wait`, () => {
    const sent: number[][] = []
    const b = new AckBatcher<number>((g) => sent.push(g))
    for (let i = 0; i < ACK_SOON; i++) b.add(i)
    expect(sent).toEqual([])
    vi.runOnlyPendingTimers()
    expect(sent).toHaveLength(1)
    expect(sent[0]).toHaveLength(ACK_SOON)
  })

  it('sends at the end of the turn once a quarter of a low concurrency waits, without the delay', () => {
    const sent: number[][] = []
    const b = new AckBatcher<number>((g) => sent.push(g), () => 8)
    b.add(1)
    expect(sent).toEqual([])
    b.add(2)
    // At the end of the turn (setImmediate), not after ACK_DELAY_MS.
    vi.advanceTimersByTime(0)
    expect(sent).toEqual([[1, 2]])
  })

  it(`sends at once at ${ACK_GROUP}`, () => {
    const sent: number[][] = []
    const b = new AckBatcher<number>((g) => sent.push(g))
    for (let i = 0; i < ACK_GROUP; i++) b.add(i)
    expect(sent.map((g) => g.length)).toEqual([ACK_GROUP])
    expect(b.waiting).toBe(0)
  })

  it('flush sends what waits and nothing when empty', () => {
    const sent: number[][] = []
    const b = new AckBatcher<number>((g) => sent.push(g))
    b.flush()
    b.add(7)
    b.flush()
    vi.runAllTimers()
    expect(sent).toEqual([[7]])
  })
})
