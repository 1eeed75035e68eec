import { describe, expect, it } from 'vitest'
import { KeyedQueue, type KeyedItem } from '../../runtime/consumer/keyed-queue.ts'

const msg = (seq: number, key: string): KeyedItem => ({ seq, key })
const seqs = (items: KeyedItem[]) => items.map((d) => d.seq)

describe('KeyedQueue, ordered', () => {
  it('runs one message per key at a time, earliest first, keys in parallel', () => {
    const q = new KeyedQueue({ limit: 1, ordered: true })
    for (const [seq, key] of [[1, 'a'], [2, 'a'], [3, 'b'], [4, 'a'], [5, 'c']] as const) q.push(msg(seq, key))
    const first = q.take(10)
    expect(seqs(first)).toEqual([1, 3, 5])
    expect(q.take(10)).toEqual([])
    q.settled(first[0]!, 'done')
    expect(seqs(q.take(10))).toEqual([2])
  })

  it('holds a key while its failed message waits for redelivery, and runs the redelivery first', () => {
    const q = new KeyedQueue({ limit: 1, ordered: true })
    const m1 = msg(1, 'a')
    q.push(m1)
    q.push(msg(2, 'a'))
    expect(seqs(q.take(5))).toEqual([1])
    q.settled(m1, 'pending')
    expect(q.take(5)).toEqual([])
    q.push(msg(1, 'a'))
    expect(seqs(q.take(5))).toEqual([1])
  })

  it('holds a key behind an earlier suspect until it comes back or the floor passes it', () => {
    const q = new KeyedQueue({ limit: 1, ordered: true })
    q.addSuspects(new Map([[3, 'a'], [4, 'b']]))
    q.push(msg(7, 'a'))
    q.push(msg(8, 'b'))
    q.push(msg(9, 'c'))
    expect(seqs(q.take(5))).toEqual([9])
    q.push(msg(3, 'a'))
    expect(seqs(q.take(5))).toEqual([3])
    q.settledThrough(4)
    expect(seqs(q.take(5))).toEqual([8])
    expect(q.suspects).toBe(0)
  })

  it('starts nothing while frozen, and forgets keys with nothing left', () => {
    const q = new KeyedQueue({ limit: 1, ordered: true })
    q.freeze(true)
    const m = msg(1, 'a')
    q.push(m)
    expect(q.ready(5)).toBe(0)
    q.freeze(false)
    expect(q.take(5)).toEqual([m])
    q.settled(m, 'done')
    expect(q.keys).toBe(0)
  })
})

describe('KeyedQueue, concurrency per key', () => {
  it('runs at most limit per key, counting suspects, not retries', () => {
    const q = new KeyedQueue({ limit: 2, ordered: false })
    for (let s = 1; s <= 5; s++) q.push(msg(s, 'a'))
    const running = q.take(10)
    expect(seqs(running)).toEqual([1, 2])
    q.settled(running[0]!, 'pending')
    expect(seqs(q.take(10))).toEqual([3])
    q.addSuspects(new Map([[100, 'b']]))
    q.push(msg(101, 'b'))
    q.push(msg(102, 'b'))
    expect(seqs(q.take(10))).toEqual([101])
  })
})
