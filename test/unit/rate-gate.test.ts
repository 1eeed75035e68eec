import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { gateFor, RateGate, type TakeTokens } from '../../runtime/consumer/rate-gate.ts'
import type { Take } from '../../runtime/rate/gcra.ts'

const log = pino({ enabled: false })
const rate = { limit: 50, perMs: 1_000, burst: 5 }

/** A bucket whose answers the test hands out one by one. */
function scripted() {
  const asks: number[] = []
  const answers: Array<(t: Take) => void> = []
  const take: TakeTokens = (_fn, want) => {
    asks.push(want)
    return new Promise<Take>((resolve) => answers.push(resolve))
  }
  return { take, asks, answer: (t: Take) => answers.shift()!(t) }
}

describe('RateGate', () => {
  it('starts nothing without tokens, asks for at most a burst, and spends what arrives', async () => {
    const bucket = scripted()
    let ready = 0
    const gate = new RateGate({ fn: 'f', rate, take: bucket.take, ready: () => ready++, log })
    expect(gate.claim(8)).toBe(0)
    expect(gate.claim(8)).toBe(0)
    expect(bucket.asks).toEqual([5]) // one request in flight, a burst at most
    bucket.answer({ granted: 5, tat: 0, waitMs: 0 })
    await expect.poll(() => ready).toBe(1)
    expect(gate.claim(3)).toBe(3)
    gate.unclaim(1)
    expect(gate.claim(8)).toBe(3)
    gate.close()
  })

  it('waits for the time the bucket names when it grants nothing, then asks again', async () => {
    const bucket = scripted()
    let ready = 0
    const gate = new RateGate({ fn: 'f', rate, take: bucket.take, ready: () => ready++, log })
    gate.claim(1)
    bucket.answer({ granted: 0, tat: 0, waitMs: 30 })
    await expect.poll(() => ready).toBe(1)
    expect(gate.claim(1)).toBe(0)
    expect(bucket.asks).toEqual([1, 1])
    gate.close()
  })

  it('keeps the gate over a redeploy with the same rate and replaces it when the rate changes', () => {
    const { take } = scripted()
    const a = gateFor(undefined, { name: 'f', rateLimit: rate }, take, () => {}, log)!
    expect(gateFor(a, { name: 'f', rateLimit: { ...rate } }, take, () => {}, log)).toBe(a)
    const b = gateFor(a, { name: 'f', rateLimit: { ...rate, limit: 10 } }, take, () => {}, log)
    expect(b).not.toBe(a)
    expect(gateFor(b, { name: 'f' }, take, () => {}, log)).toBeUndefined()
  })
})
