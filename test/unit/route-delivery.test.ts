import { describe, expect, it } from 'vitest'
import { routeDelivery } from '../../runtime/consumer/route-delivery.ts'

const retry = { maxDeliver: 3, backoffMs: [10], jitter: 0 }
const ctx = { running: true, fn: 'charge', retry, blocked: undefined }
const d = { seq: 10, deliveries: 1, headers: null }

describe('routeDelivery', () => {
  it('queues an ordinary delivery', () => {
    expect(routeDelivery(d, ctx)).toEqual({ to: 'queue' })
  })

  it('hands everything back while the consumer is not running', () => {
    expect(routeDelivery({ ...d, undecodable: { reason: 'x' } }, { ...ctx, running: false })).toEqual({ to: 'release' })
  })

  it('dead-letters a delivery whose dead letter was refused before, as it failed then', () => {
    const blocked = { errorKind: 'schema' as const, error: { name: 'SchemaError', message: 'bad' }, version: 'v1' }
    expect(routeDelivery(d, { ...ctx, blocked })).toEqual({ to: 'dead-letter', ...blocked })
  })

  it('dead-letters undecodable headers as decode, naming why', () => {
    expect(routeDelivery({ ...d, undecodable: { reason: 'header name "a b" has a byte no client accepts' } }, ctx)).toEqual({
      to: 'dead-letter',
      errorKind: 'decode',
      error: { name: 'HeaderDecodeError', message: 'headers cannot be decoded: header name "a b" has a byte no client accepts' },
    })
  })

  it('dead-letters a delivery past maxDeliver without running it', () => {
    expect(routeDelivery({ ...d, deliveries: 4 }, ctx)).toMatchObject({ to: 'dead-letter', errorKind: 'max-deliver' })
    expect(routeDelivery({ ...d, deliveries: 3 }, ctx)).toEqual({ to: 'queue' })
  })

  it("skips a replay meant for another function, and runs its own", () => {
    expect(routeDelivery({ ...d, headers: [['Fn-Replay-For', ['reserve']]] }, ctx)).toEqual({ to: 'skip', replayFor: 'reserve' })
    expect(routeDelivery({ ...d, headers: [['Fn-Replay-For', ['charge']]] }, ctx)).toEqual({ to: 'queue' })
  })

  it('on the consumer of a replay, skips what was stored after the replay began', () => {
    expect(routeDelivery({ ...d, seq: 10 }, { ...ctx, throughSeq: 10 })).toEqual({ to: 'queue' })
    expect(routeDelivery({ ...d, seq: 11 }, { ...ctx, throughSeq: 10 })).toEqual({ to: 'skip', pastReplay: 10 })
  })
})
