import { describe, expect, it } from 'vitest'
import { decodeHeaderBlock, headerValue, MAX_HEADER_BYTES, MAX_HEADER_LINES } from '../../runtime/consumer/read-headers.ts'

const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0))
const block = (...lines: string[]): Uint8Array => bytes(`NATS/1.0\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`)

describe('decodeHeaderBlock', () => {
  it('reads names as sent and every value of a repeated name in order', () => {
    expect(decodeHeaderBlock(block('Content-Type: application/json', 'X-Trace: a', 'x-trace: b', 'X-Trace:  c  '))).toEqual({
      ok: true,
      headers: [
        ['Content-Type', ['application/json']],
        ['X-Trace', ['a', 'c']],
        ['x-trace', ['b']],
      ],
    })
  })

  it('reads UTF-8 values', () => {
    const raw = new Uint8Array([...bytes('NATS/1.0\r\nX-Name: '), ...new TextEncoder().encode('Zoë ☃'), ...bytes('\r\n\r\n')])
    expect(decodeHeaderBlock(raw)).toEqual({ ok: true, headers: [['X-Name', ['Zoë ☃']]] })
  })

  it('reads an empty block as no headers', () => {
    expect(decodeHeaderBlock(block())).toEqual({ ok: true, headers: null })
  })

  it.each([
    ['a space in a name', 'Bad Key: 1', /"Bad Key" has a byte no client accepts \(0x20 at 3\)/],
    ['a control byte in a name', 'Bad\x01Key: 1', /0x01 at 3/],
    ['a non-ASCII byte in a name', 'Caf\xe9: 1', /0xe9 at 3/],
    ['a line without a colon', 'no colon here', /header line 2 has no name/],
    ['an empty name', ': value', /header line 2 has no name/],
    ['a lone LF in a value', 'X-A: one\ntwo', /lone CR or LF/],
  ])('refuses %s, naming it, and keeps the raw block', (_what, line, reason) => {
    const raw = block('X-Good: 1', line)
    const read = decodeHeaderBlock(raw)
    expect(read.ok).toBe(false)
    if (read.ok) return
    expect(read.reason).toMatch(reason)
    expect(read.raw).toBe(raw)
  })

  it('refuses a block that is not a NATS header block', () => {
    expect(decodeHeaderBlock(bytes('HTTP/1.1\r\nA: 1\r\n\r\n'))).toMatchObject({ ok: false, reason: 'header block does not start with NATS/1.0' })
  })

  it(`refuses more than ${MAX_HEADER_LINES} header lines unread, naming the limit`, () => {
    const lines = Array.from({ length: 2_000 }, (_, i) => `X-${i}: ${i}`)
    expect(decodeHeaderBlock(block(...lines))).toMatchObject({ ok: false, reason: `more than ${MAX_HEADER_LINES} header lines` })
    expect(decodeHeaderBlock(block(...lines.slice(0, MAX_HEADER_LINES))).ok).toBe(true)
  })

  it(`refuses a block over ${MAX_HEADER_BYTES} bytes unread, naming the limit`, () => {
    const raw = block(`X-Big: ${'v'.repeat(MAX_HEADER_BYTES)}`)
    expect(decodeHeaderBlock(raw)).toMatchObject({ ok: false, reason: `header block of ${raw.length} bytes is over the limit of ${MAX_HEADER_BYTES}` })
  })
})

describe('headerValue', () => {
  it('finds a header by its exact name, then in any case', () => {
    expect(headerValue([['Fn-Replay-For', ['a', 'b']]], 'Fn-Replay-For')).toBe('a')
    expect(headerValue([['fn-replay-for', ['c']]], 'Fn-Replay-For')).toBe('c')
    expect(headerValue([['X', ['c']]], 'Fn-Replay-For')).toBeUndefined()
    expect(headerValue(null, 'X')).toBeUndefined()
  })
})
