import { describe, expect, it } from 'vitest'
import { pickThread, ThreadLoad } from '../../runtime/pool/thread-balancer.ts'

const thread = (id: number, currentUsage = 0, extra: { terminating?: boolean; destroyed?: boolean } = {}) => ({ id, currentUsage, terminating: false, destroyed: false, ...extra })

describe('pickThread', () => {
  it('picks the thread with the fewest messages outstanding, not the fewest tasks', () => {
    const load = new Map([[1, 200], [2, 3]])
    expect(pickThread([thread(1, 1), thread(2, 5)], (id) => load.get(id) ?? 0)!.id).toBe(2)
  })

  it('breaks ties by piscina task count, skips dying threads, and finds none when all are', () => {
    expect(pickThread([thread(1, 3), thread(2, 1)], () => 0)!.id).toBe(2)
    expect(pickThread([thread(1, 0, { terminating: true }), thread(2, 9)], () => 0)!.id).toBe(2)
    expect(pickThread([thread(1, 0, { destroyed: true })], () => 0)).toBeNull()
  })
})

describe('ThreadLoad', () => {
  it('counts messages per thread until each reports, and idle threads', () => {
    const l = new ThreadLoad()
    l.add(1, 2)
    expect(l.idle([{ threadId: 1 }, { threadId: 2 }])).toBe(1)
    l.done(1)
    expect(l.of(1)).toBe(1)
    l.done(1)
    expect(l.of(1)).toBe(0)
    expect(l.idle([{ threadId: 1 }, { threadId: 2 }])).toBe(2)
  })
})
