import { describe, expect, it } from 'vitest'
import { HeldSet } from '../../runtime/consumer/held-set.ts'

const item = (seq: number) => ({ seq, lastSeenAt: 0, heldAt: -1 })

describe('HeldSet', () => {
  it('keeps each item once, and deletes in any order, twice or never held without harm', () => {
    const held = new HeldSet<ReturnType<typeof item>>(() => {})
    const items = Array.from({ length: 10 }, (_, i) => item(i))
    for (const d of items) held.add(d)
    held.add(items[3]!)
    expect(held.size).toBe(10)
    held.delete([items[0]!, items[9]!, items[4]!])
    held.delete([items[4]!, item(99)])
    expect(held.values().map((d) => d.seq).sort((a, b) => a - b)).toEqual([1, 2, 3, 5, 6, 7, 8])
    held.delete(items)
    expect(held.size).toBe(0)
    // Held again after it left (a message requeued into a fresh set keeps working).
    held.add(items[2]!)
    expect(held.values()).toEqual([items[2]])
  })

  it('resolves waitEmpty once the last item leaves', async () => {
    const held = new HeldSet<ReturnType<typeof item>>(() => {})
    const a = item(1)
    held.add(a)
    const empty = held.waitEmpty(10_000)
    held.delete([a])
    await expect(empty).resolves.toBe(true)
  })

  it('keeps alive what it holds, at once and then every period', async () => {
    const seen: number[] = []
    const held = new HeldSet<ReturnType<typeof item>>((d) => seen.push(d.seq))
    held.add(item(1))
    held.add(item(2))
    held.keepAlive(250)
    expect(seen.sort()).toEqual([1, 2])
    held.stopKeepAlive()
  })
})
