import { describe, expect, it } from 'vitest'
import type { Outcome, WireError, WireOutput } from '../../runtime/pool/protocol.ts'
import type { RetryPolicy } from '../../runtime/settle/backoff.ts'
import { decide, isPastMaxDeliver } from '../../runtime/settle/decide.ts'

const policy: RetryPolicy = { maxDeliver: 3, backoffMs: [1_000, 5_000], jitter: 0.2 }
/** random() = 0.5 puts the jittered delay on the schedule entry itself. */
const mid = () => 0.5
const boom: WireError = { name: 'Error', message: 'boom', stack: 'Error: boom\n    at handler' }

type Retry = Extract<Outcome, { kind: 'retry' }>

function retry(errorKind: Retry['errorKind'], delayMs?: number): Retry {
  const outcome: Retry = { kind: 'retry', errorKind, error: boom, durationMs: 12 }
  if (delayMs !== undefined) outcome.delayMs = delayMs
  return outcome
}

describe('decide', () => {
  describe('a handler that resolves', () => {
    it('is acked with its outputs', () => {
      const outputs: WireOutput[] = [
        { subject: 'orders.shipped', data: new Uint8Array([1, 2]), headers: null },
        { subject: 'audit', data: new Uint8Array(), headers: [['X-Trace', ['a']]] },
      ]
      const action = decide({ kind: 'ok', durationMs: 3, outputs }, 1, policy, mid)
      expect(action).toEqual({ action: 'ack', outputs })
      expect(action.action === 'ack' && action.outputs).toBe(outputs)
    })

    it('is acked even on the last allowed delivery', () => {
      expect(decide({ kind: 'ok', durationMs: 3, outputs: [] }, 3, policy, mid)).toEqual({ action: 'ack', outputs: [] })
    })
  })

  describe('a handler that throws or times out', () => {
    it.each(['error', 'timeout', 'crash'] as const)('%s is nak\'d with the backoff of its delivery', (errorKind) => {
      expect(decide(retry(errorKind), 1, policy, mid)).toEqual({ action: 'nak', delayMs: 1_000, errorKind, error: boom })
      expect(decide(retry(errorKind), 2, policy, mid)).toEqual({ action: 'nak', delayMs: 5_000, errorKind, error: boom })
    })

    it('applies jitter through the injected random', () => {
      expect(decide(retry('error'), 1, policy, () => 0)).toMatchObject({ action: 'nak', delayMs: 800 })
      expect(decide(retry('error'), 2, policy, () => 1)).toMatchObject({ action: 'nak', delayMs: 6_000 })
    })

    it.each(['error', 'timeout', 'crash'] as const)(
      '%s on the last allowed delivery is dead-lettered, keeping its kind',
      (errorKind) => {
        expect(decide(retry(errorKind), 3, policy, mid)).toEqual({ action: 'dead-letter', errorKind, error: boom })
      },
    )

    it('is dead-lettered at once when maxDeliver is 1', () => {
      const once: RetryPolicy = { ...policy, maxDeliver: 1 }
      expect(decide(retry('error'), 1, once, mid)).toEqual({ action: 'dead-letter', errorKind: 'error', error: boom })
    })

    it('is dead-lettered past the last allowed delivery too', () => {
      expect(decide(retry('timeout'), 4, policy, mid)).toEqual({ action: 'dead-letter', errorKind: 'timeout', error: boom })
    })
  })

  describe('a handler that throws RetryAfterError(ms)', () => {
    it('is nak\'d with that delay, not the backoff', () => {
      expect(decide(retry('error', 42_000), 1, policy, () => 0)).toEqual({
        action: 'nak',
        delayMs: 42_000,
        errorKind: 'error',
        error: boom,
      })
    })

    it('keeps a delay of 0 rather than falling back to the backoff', () => {
      expect(decide(retry('error', 0), 2, policy, mid)).toMatchObject({ action: 'nak', delayMs: 0 })
    })

    it('is dead-lettered on the last allowed delivery', () => {
      expect(decide(retry('error', 42_000), 3, policy, mid)).toEqual({ action: 'dead-letter', errorKind: 'error', error: boom })
    })
  })

  describe('a message that can never succeed', () => {
    it.each(['schema', 'decode', 'non-retryable'] as const)('%s is dead-lettered on the first delivery', (errorKind) => {
      const error: WireError = { name: 'SchemaError', message: "'id': expected string" }
      expect(decide({ kind: 'dead', errorKind, error, durationMs: 1 }, 1, policy, mid)).toEqual({
        action: 'dead-letter',
        errorKind,
        error,
      })
    })
  })
})

describe('isPastMaxDeliver', () => {
  it.each([
    [1, false],
    [2, false],
    [3, false],
    [4, true],
    [10, true],
  ])('delivery %d of maxDeliver 3 → %s', (deliveries, past) => {
    expect(isPastMaxDeliver(deliveries, policy)).toBe(past)
  })
})
