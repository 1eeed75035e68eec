import { headers, type MsgHdrs } from '@nats-io/transport-node'
import { describe, expect, it } from 'vitest'
import type { WireHeaders } from '../../runtime/pool/protocol.ts'
import { DlqHeader, deadLetterHeaders, headerBytes, deadLetterSubject, type DeadLetterFacts } from '../../runtime/settle/dead-letter.ts'

const failedAt = new Date('2025-03-04T05:06:07.089Z')

function facts(overrides: Partial<DeadLetterFacts> = {}): DeadLetterFacts {
  return {
    fn: 'charge-card',
    version: 'sha256-abc123',
    errorKind: 'error',
    error: { name: 'TypeError', message: 'card is undefined' },
    deliveries: 5,
    stream: 'ORDERS',
    seq: 42,
    subject: 'orders.created',
    failedAt,
    original: null,
    ...overrides,
  }
}

/** Headers as the consumer hands them over (see readHeaders). */
function wire(h: MsgHdrs): WireHeaders {
  return h.keys().map((k) => [k, h.values(k)])
}

/** All headers as a plain record, so a test sees every key and every value at once. */
function record(h: MsgHdrs): Record<string, string[]> {
  return Object.fromEntries(h.keys().map((k) => [k, h.values(k)]))
}

describe('deadLetterHeaders', () => {
  it('sets every Fn-* header and the dedupe id, and nothing else, for a message without headers', () => {
    expect(record(deadLetterHeaders(facts()))).toEqual({
      'Fn-Function': ['charge-card'],
      'Fn-Version': ['sha256-abc123'],
      'Fn-Error': ['TypeError: card is undefined'],
      'Fn-Error-Kind': ['error'],
      'Fn-Deliveries': ['5'],
      'Fn-Source-Stream': ['ORDERS'],
      'Fn-Source-Seq': ['42'],
      'Fn-Source-Subject': ['orders.created'],
      'Fn-Failed-At': ['2025-03-04T05:06:07.089Z'],
      'Nats-Msg-Id': ['dlq:charge-card:ORDERS:42'],
    })
  })

  it('names the headers as tools read them', () => {
    expect(DlqHeader).toEqual({
      Function: 'Fn-Function',
      Version: 'Fn-Version',
      Error: 'Fn-Error',
      ErrorKind: 'Fn-Error-Kind',
      Deliveries: 'Fn-Deliveries',
      SourceStream: 'Fn-Source-Stream',
      SourceSeq: 'Fn-Source-Seq',
      SourceSubject: 'Fn-Source-Subject',
      FailedAt: 'Fn-Failed-At',
      OriginalMsgId: 'Fn-Original-Msg-Id',
      PayloadObject: 'Fn-Payload-Object',
      PayloadSize: 'Fn-Payload-Size',
      RawHeaders: 'Fn-Raw-Headers',
      RawHeadersObject: 'Fn-Raw-Headers-Object',
    })
  })

  it.each(['error', 'timeout', 'crash', 'schema', 'decode', 'non-retryable', 'max-deliver'] as const)(
    'records error kind %s',
    (errorKind) => {
      expect(deadLetterHeaders(facts({ errorKind })).get('Fn-Error-Kind')).toBe(errorKind)
    },
  )

  it('keeps the original headers, every value of a repeated one', () => {
    const original = headers()
    original.set('Content-Type', 'application/json')
    original.append('X-Trace', 'a')
    original.append('X-Trace', 'b')
    const h = deadLetterHeaders(facts({ original: wire(original) }))
    expect(h.get('Content-Type')).toBe('application/json')
    expect(h.values('X-Trace')).toEqual(['a', 'b'])
    expect(h.get('Fn-Function')).toBe('charge-card')
  })

  it('replaces the original Nats-Msg-Id with its own and keeps the old one as Fn-Original-Msg-Id', () => {
    const original = headers()
    original.set('Nats-Msg-Id', 'order-7')
    const h = deadLetterHeaders(facts({ original: wire(original) }))
    expect(h.values('Nats-Msg-Id')).toEqual(['dlq:charge-card:ORDERS:42'])
    expect(h.get('Fn-Original-Msg-Id')).toBe('order-7')
  })

  it('has no Fn-Original-Msg-Id when the original had no Nats-Msg-Id', () => {
    const original = headers()
    original.set('X-Trace', 'a')
    expect(deadLetterHeaders(facts({ original: wire(original) })).has('Fn-Original-Msg-Id')).toBe(false)
  })

  it('drops headers that would make the DLQ stream refuse or reshape the record', () => {
    const original = headers()
    original.set('Nats-Expected-Stream', 'ORDERS')
    original.set('Nats-Expected-Last-Sequence', '41')
    original.set('Nats-Expected-Last-Subject-Sequence', '40')
    original.set('Nats-Expected-Last-Msg-Id', 'order-6')
    original.set('Nats-Rollup', 'sub')
    original.set('Nats-TTL', '1s')
    original.set('X-Kept', 'yes')
    expect(record(deadLetterHeaders(facts({ original: wire(original) })))).toEqual({
      'X-Kept': ['yes'],
      'Fn-Function': ['charge-card'],
      'Fn-Version': ['sha256-abc123'],
      'Fn-Error': ['TypeError: card is undefined'],
      'Fn-Error-Kind': ['error'],
      'Fn-Deliveries': ['5'],
      'Fn-Source-Stream': ['ORDERS'],
      'Fn-Source-Seq': ['42'],
      'Fn-Source-Subject': ['orders.created'],
      'Fn-Failed-At': ['2025-03-04T05:06:07.089Z'],
      'Nats-Msg-Id': ['dlq:charge-card:ORDERS:42'],
    })
  })

  it('drops original headers that would point fn dlq at a payload or header object', () => {
    const original: WireHeaders = [
      ['Fn-Payload-Object', ['dlq:other:ORDERS:1']],
      ['fn-payload-size', ['10']],
      ['Fn-Raw-Headers', ['AAAA']],
      ['FN-RAW-HEADERS-OBJECT', ['x']],
      ['X-Kept', ['yes']],
    ]
    const h = deadLetterHeaders(facts({ original }))
    expect(h.keys().filter((k) => !/^(fn-(function|version|error|error-kind|deliveries|source-.*|failed-at)|nats-msg-id)$/i.test(k))).toEqual(['X-Kept'])
  })

  it('does not change the original headers', () => {
    const original = headers()
    original.set('Nats-Msg-Id', 'order-7')
    original.set('Nats-Expected-Stream', 'ORDERS')
    deadLetterHeaders(facts({ original: wire(original) }))
    expect(record(original)).toEqual({ 'Nats-Msg-Id': ['order-7'], 'Nats-Expected-Stream': ['ORDERS'] })
  })

  it('overwrites the Fn-* headers of a replayed dead letter with fresh values, once each', () => {
    const original = headers()
    original.set('Fn-Error', 'Error: the first failure')
    original.set('Fn-Error-Kind', 'timeout')
    original.set('Fn-Deliveries', '3')
    original.set('Fn-Source-Stream', 'FN_DLQ')
    const h = deadLetterHeaders(facts({ original: wire(original) }))
    expect(h.values('Fn-Error')).toEqual(['TypeError: card is undefined'])
    expect(h.values('Fn-Error-Kind')).toEqual(['error'])
    expect(h.values('Fn-Deliveries')).toEqual(['5'])
    expect(h.values('Fn-Source-Stream')).toEqual(['ORDERS'])
  })

  it('turns a multi-line error into one line', () => {
    const error = { name: 'Error', message: 'first line\nsecond line\r\nthird line\r\r\n\nfourth', stack: 'Error\n    at x' }
    const h = deadLetterHeaders(facts({ error }))
    expect(h.get('Fn-Error')).toBe('Error: first line second line third line fourth')
  })

  it('trims a message that starts or ends with a newline', () => {
    const h = deadLetterHeaders(facts({ error: { name: 'Error', message: 'bad\n' } }))
    expect(h.get('Fn-Error')).toBe('Error: bad')
  })

  it('keeps an error of exactly 2048 characters whole', () => {
    const message = 'x'.repeat(2048 - 'Error: '.length)
    expect(deadLetterHeaders(facts({ error: { name: 'Error', message } })).get('Fn-Error')).toBe(`Error: ${message}`)
  })

  it('truncates a longer error to 2048 characters ending in an ellipsis', () => {
    const message = 'y'.repeat(100_000)
    const value = deadLetterHeaders(facts({ error: { name: 'RangeError', message } })).get('Fn-Error')
    expect(value).toHaveLength(2048)
    expect(value).toBe(`RangeError: ${'y'.repeat(2047 - 'RangeError: '.length)}…`)
  })

  it('gives each source message its own dedupe id', () => {
    expect(deadLetterHeaders(facts({ stream: 'EVENTS', seq: 1 })).get('Nats-Msg-Id')).toBe('dlq:charge-card:EVENTS:1')
    expect(deadLetterHeaders(facts({ stream: 'EVENTS', seq: 2 })).get('Nats-Msg-Id')).toBe('dlq:charge-card:EVENTS:2')
  })

  it('gives each function its own dedupe id for one source message (two functions on one subject)', () => {
    const reserve = deadLetterHeaders(facts({ fn: 'reserve-inventory', stream: 'ORDERS', seq: 7 })).get('Nats-Msg-Id')
    const charge = deadLetterHeaders(facts({ fn: 'charge-payment', stream: 'ORDERS', seq: 7 })).get('Nats-Msg-Id')
    expect(reserve).toBe('dlq:reserve-inventory:ORDERS:7')
    expect(charge).toBe('dlq:charge-payment:ORDERS:7')
  })

  it('copies 1,000 original headers, each once, and counts their bytes as encoded', () => {
    const original: WireHeaders = Array.from({ length: 1_000 }, (_, i): [string, string[]] => [`X-H-${i}`, [`v${i}`]])
    const h = deadLetterHeaders(facts({ original }))
    expect(h.keys()).toHaveLength(1_000 + 10)
    expect(h.get('X-H-999')).toBe('v999')
    expect(headerBytes(h)).toBe(h.toString().length)
  })
})

describe('deadLetterSubject', () => {
  it.each([
    ['charge-card', 'fn.dlq.charge-card'],
    ['send_email', 'fn.dlq.send_email'],
  ])('%s → %s', (fn, subject) => {
    expect(deadLetterSubject(fn)).toBe(subject)
  })
})
