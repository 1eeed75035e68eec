import { headers as natsHeaders } from '@nats-io/transport-node'
import { describe, expect, it } from 'vitest'
import { toDeadLetterEntry } from '../../runtime/dlq/dead-letter-entry.ts'
import { replayMessage } from '../../runtime/dlq/replay-message.ts'
import { isFnError } from '../../runtime/errors/fn-error.ts'
import { deadLetterHeaders } from '../../runtime/settle/dead-letter.ts'

function stored(extra: (h: ReturnType<typeof natsHeaders>) => void = () => undefined) {
  const original = natsHeaders()
  original.set('X-Trace', 'abc')
  original.append('X-Multi', '1')
  original.append('X-Multi', '2')
  original.set('Nats-Msg-Id', 'order-7')
  const h = deadLetterHeaders({
    fn: 'resize',
    version: 'f'.repeat(64),
    errorKind: 'timeout',
    error: { name: 'Error', message: 'took too long' },
    deliveries: 3,
    stream: 'ORDERS',
    seq: 42,
    subject: 'orders.created',
    failedAt: new Date('2024-05-01T12:00:00.123Z'),
    original: original.keys().map((k) => [k, original.values(k)]),
  })
  extra(h)
  return toDeadLetterEntry({ seq: 9, subject: 'fn.dlq.resize', time: new Date(1_700_000_000_000), headers: h, data: new TextEncoder().encode('{"a":1}') })
}

describe('toDeadLetterEntry', () => {
  it('reads the Fn-* headers the settler writes', () => {
    expect(stored()).toMatchObject({
      seq: 9,
      function: 'resize',
      errorKind: 'timeout',
      error: 'Error: took too long',
      deliveries: 3,
      sourceStream: 'ORDERS',
      sourceSeq: 42,
      sourceSubject: 'orders.created',
      failedAt: new Date('2024-05-01T12:00:00.123Z'),
      size: 7,
    })
  })

  it('takes the size from Nats-Msg-Size when read headers-only, and the stored time when Fn-Failed-At is unreadable', () => {
    const h = natsHeaders()
    h.set('Nats-Msg-Size', '1234')
    h.set('Fn-Failed-At', 'yesterday')
    const e = toDeadLetterEntry({ seq: 1, subject: 'fn.dlq.x', time: new Date(5), headers: h, data: new Uint8Array() })
    expect(e.size).toBe(1234)
    expect(e.failedAt).toEqual(new Date(5))
    expect(e.deliveries).toBeUndefined()
  })
})

describe('replayMessage', () => {
  it('keeps the original headers and payload, drops every Fn-* header but the one naming its function, and uses an id of its own', () => {
    const m = replayMessage(stored((h) => h.set('fn-lowercase', 'x')), 'FN_DLQ')
    expect(m.subject).toBe('orders.created')
    expect(new TextDecoder().decode(m.data)).toBe('{"a":1}')
    expect(m.headers.keys().sort()).toEqual(['Fn-Replay-For', 'X-Multi', 'X-Trace'])
    expect(m.headers.get('Fn-Replay-For')).toBe('resize')
    expect(m.headers.values('X-Multi')).toEqual(['1', '2'])
    expect(m.msgId).toBe('replay:FN_DLQ:9:1700000000000')
    expect(m.headers.has('Nats-Msg-Id')).toBe(false)
  })

  it('gives the same id to every attempt at one dead letter, and another to another', () => {
    expect(replayMessage(stored(), 'FN_DLQ').msgId).toBe(replayMessage(stored(), 'FN_DLQ').msgId)
    const other = { ...stored(), seq: 10 }
    expect(replayMessage(other, 'FN_DLQ').msgId).not.toBe(replayMessage(stored(), 'FN_DLQ').msgId)
  })

  it('refuses a dead letter that does not say where it came from, naming its seq', () => {
    const e = { ...stored(), sourceSubject: undefined }
    expect(() => replayMessage(e, 'FN_DLQ')).toThrow(/dead letter 9 has no Fn-Source-Subject header/)
    try {
      replayMessage(e, 'FN_DLQ')
    } catch (err) {
      expect(isFnError(err, 'FN_USAGE_INVALID')).toBe(true)
    }
  })
})
