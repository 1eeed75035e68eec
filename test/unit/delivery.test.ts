import { describe, expect, it } from 'vitest'
import { parseAckSubject } from '../../runtime/settle/delivery.ts'

describe('parseAckSubject', () => {
  it('reads the 9-token form: stream, stream seq, delivery count and stream time', () => {
    expect(parseAckSubject('$JS.ACK.ORDERS.fn_x.3.42.40.1700000000123456789.7')).toEqual({
      stream: 'ORDERS',
      seq: 42,
      deliveries: 3,
      timeMs: 1_700_000_000_123,
    })
  })

  it('reads the 12-token form with domain and account hash in front', () => {
    expect(parseAckSubject('$JS.ACK.hub.ACCHASH123.ORDERS.fn_x.3.42.40.1700000000123456789.7.r4nd0m')).toEqual({
      stream: 'ORDERS',
      seq: 42,
      deliveries: 3,
      timeMs: 1_700_000_000_123,
    })
  })

  it('reads the 12-token form with the "_" placeholder for no domain', () => {
    expect(parseAckSubject('$JS.ACK._.ACCHASH123.EVENTS.fn_y.1.9007199254740991.1.1700000000999000000.0.tok')).toEqual({
      stream: 'EVENTS',
      seq: 9_007_199_254_740_991,
      deliveries: 1,
      timeMs: 1_700_000_000_999,
    })
  })

  it('reads the 11-token form (domain and hash, no trailing token)', () => {
    expect(parseAckSubject('$JS.ACK.hub.ACCHASH123.ORDERS.fn_x.2.5.5.1700000000123456789.0')).toEqual({
      stream: 'ORDERS',
      seq: 5,
      deliveries: 2,
      timeMs: 1_700_000_000_123,
    })
  })

  it('does not mix up the stream sequence with the consumer sequence', () => {
    const d = parseAckSubject('$JS.ACK.S.C.1.100.7.1700000000000000000.0')
    expect(d?.seq).toBe(100)
  })

  describe('timeMs from the nanosecond timestamp', () => {
    it('drops the sub-millisecond part rather than rounding it', () => {
      expect(parseAckSubject('$JS.ACK.S.C.1.1.1.1700000000123999999.0')?.timeMs).toBe(1_700_000_000_123)
    })

    it('is exact where a 64-bit float of the nanoseconds would not be', () => {
      // 1700000000123456789 is not representable as a double; going through Number() would drift.
      expect(parseAckSubject('$JS.ACK.S.C.1.1.1.1799999999999999999.0')?.timeMs).toBe(1_799_999_999_999)
    })

    it.each([
      ['1000000', 1],
      ['999999', 0],
      ['0', 0],
    ])('%s ns → %d ms', (ns, ms) => {
      expect(parseAckSubject(`$JS.ACK.S.C.1.1.1.${ns}.0`)?.timeMs).toBe(ms)
    })

    it('is a Date-compatible epoch time', () => {
      const d = parseAckSubject('$JS.ACK.S.C.1.1.1.1700000000123456789.0')
      expect(new Date(d!.timeMs).toISOString()).toBe('2023-11-14T22:13:20.123Z')
    })
  })

  it.each([
    ['an empty string', ''],
    ['a plain subject', 'orders.created'],
    ['an inbox', '_INBOX.abc.def'],
    ['a non-ack $JS subject of 9 tokens', '$JS.API.ORDERS.fn_x.3.42.40.1700000000123456789.7'],
    ['a lowercase prefix', '$js.ack.ORDERS.fn_x.3.42.40.1700000000123456789.7'],
    ['too few tokens', '$JS.ACK.ORDERS.fn_x.3.42.40.1700000000123456789'],
    ['10 tokens', '$JS.ACK.ORDERS.fn_x.3.42.40.1700000000123456789.7.x'],
    ['a non-numeric delivery count', '$JS.ACK.ORDERS.fn_x.three.42.40.1700000000123456789.7'],
    ['a non-numeric stream seq', '$JS.ACK.ORDERS.fn_x.3.x42.40.1700000000123456789.7'],
    ['a stream seq past 2^53', '$JS.ACK.ORDERS.fn_x.3.18446744073709551615.40.1700000000123456789.7'],
    ['a non-numeric field in the 12-token form', '$JS.ACK.hub.HASH.ORDERS.fn_x.3.NaN.40.1700000000123456789.7.r'],
    ['an empty delivery count', '$JS.ACK.ORDERS.fn_x..42.40.1700000000123456789.7'],
    ['a delivery count of 0', '$JS.ACK.ORDERS.fn_x.0.42.40.1700000000123456789.7'],
    ['a negative delivery count', '$JS.ACK.ORDERS.fn_x.-3.42.40.1700000000123456789.7'],
    ['a hexadecimal stream seq', '$JS.ACK.ORDERS.fn_x.3.0x2a.40.1700000000123456789.7'],
    ['an empty stream seq', '$JS.ACK.ORDERS.fn_x.3..40.1700000000123456789.7'],
    ['a non-numeric timestamp', '$JS.ACK.ORDERS.fn_x.3.42.40.abcdefghij.7'],
    ['an empty timestamp', '$JS.ACK.ORDERS.fn_x.3.42.40..7'],
    ['an empty stream name', '$JS.ACK..fn_x.3.42.40.1700000000123456789.7'],
    ['an empty stream name in the 12-token form', '$JS.ACK.hub.HASH..fn_x.3.42.40.1700000000123456789.7.r'],
  ])('returns undefined for %s', (_what, reply) => {
    expect(parseAckSubject(reply)).toBeUndefined()
  })
})
