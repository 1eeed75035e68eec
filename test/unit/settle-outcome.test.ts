import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { Outcome } from '../../runtime/pool/protocol.ts'
import type { Delivery } from '../../runtime/settle/delivery.ts'
import { settleOutcome, type SettlePorts } from '../../runtime/settle/settle-outcome.ts'

const d: Delivery = { subject: 's', data: new Uint8Array(), headers: null, reply: 'r', stream: 'S', seq: 7, deliveries: 1, timeMs: 0 }
const retry = { maxDeliver: 3, backoffMs: [100], jitter: 0 }

function ports(opts: { outputsFail?: boolean } = {}) {
  const calls: string[] = []
  const p: SettlePorts = {
    publishOutputs: async (_d, outputs) => {
      calls.push(`outputs ${outputs.length}`)
      if (opts.outputsFail) throw new Error('no stream')
    },
    ack: async () => void calls.push('ack'),
    nak: (_d, delayMs) => void calls.push(`nak ${delayMs}`),
    deadLetter: async (_d, kind) => void calls.push(`dead ${kind}`),
    settled: (_d, outcome, kind) => void calls.push(`settled ${outcome}${kind ? ` ${kind}` : ''}`),
    log: pino({ level: 'silent' }),
  }
  return { p, calls }
}

describe('settleOutcome', () => {
  it('publishes outputs, then acks', async () => {
    const { p, calls } = ports()
    const out: Outcome = { kind: 'ok', durationMs: 1, outputs: [{ subject: 'o', data: new Uint8Array(), headers: null }] }
    expect(await settleOutcome(d, out, retry, p)).toBe('acked')
    expect(calls).toEqual(['outputs 1', 'ack', 'settled ok'])
  })

  it('turns outputs that cannot be stored into a retry, never an ack without them', async () => {
    const { p, calls } = ports({ outputsFail: true })
    const out: Outcome = { kind: 'ok', durationMs: 1, outputs: [{ subject: 'o', data: new Uint8Array(), headers: null }] }
    expect(await settleOutcome(d, out, retry, p)).toBe('retried')
    expect(calls).toEqual(['outputs 1', 'nak 100', 'settled retried error'])
  })

  it('naks a failure with deliveries left, dead-letters one without', async () => {
    const fail: Outcome = { kind: 'retry', errorKind: 'error', error: { name: 'E', message: 'm' }, durationMs: 1 }
    const a = ports()
    expect(await settleOutcome(d, fail, retry, a.p)).toBe('retried')
    expect(a.calls).toEqual(['nak 100', 'settled retried error'])
    const b = ports()
    expect(await settleOutcome({ ...d, deliveries: 3 }, fail, retry, b.p)).toBe('dead-lettered')
    expect(b.calls).toEqual(['dead error'])
  })

  it('dead-letters a non-retryable failure at once', async () => {
    const { p, calls } = ports()
    expect(await settleOutcome(d, { kind: 'dead', errorKind: 'schema', error: { name: 'S', message: 'x' }, durationMs: 1 }, retry, p)).toBe('dead-lettered')
    expect(calls).toEqual(['dead schema'])
  })
})
