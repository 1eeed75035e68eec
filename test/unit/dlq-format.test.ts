import { describe, expect, it } from 'vitest'
import type { DeadLetterEntry } from '../../runtime/dlq/dead-letter-entry.ts'
import { DeadLetterTable, truncate } from '../../runtime/dlq/dead-letter-table.ts'
import { previewPayload } from '../../runtime/dlq/payload-preview.ts'

const enc = new TextEncoder()

describe('previewPayload', () => {
  it('pretty-prints JSON, shows text as is, dumps binary as hex', () => {
    expect(previewPayload(enc.encode('{"a":[1,2]}'))).toEqual({ kind: 'json', text: '{\n  "a": [\n    1,\n    2\n  ]\n}', json: { a: [1, 2] } })
    expect(previewPayload(enc.encode('hello\nworld'))).toEqual({ kind: 'text', text: 'hello\nworld' })
    expect(previewPayload(new Uint8Array())).toEqual({ kind: 'empty', text: '(empty)' })
    const bin = previewPayload(new Uint8Array([0x00, 0x41, 0xff]))
    expect(bin.kind).toBe('binary')
    expect(bin.text).toBe(`00000000  00 41 ff${' '.repeat(40)}  |.A.|`)
  })

  it('treats control characters as binary and cuts a long dump', () => {
    expect(previewPayload(enc.encode('a\u0001b')).kind).toBe('binary')
    const big = previewPayload(new Uint8Array(100).fill(1), { maxBinaryBytes: 32 })
    expect(big.text.split('\n')).toHaveLength(3)
    expect(big.text).toMatch(/… 68 more bytes$/)
  })
})

describe('DeadLetterTable', () => {
  const entry: DeadLetterEntry = {
    seq: 7,
    subject: 'fn.dlq.f',
    storedAt: new Date(0),
    function: 'f',
    version: 'v',
    errorKind: 'non-retryable',
    error: 'NonRetryableError: ' + 'x'.repeat(200),
    deliveries: 1,
    sourceStream: 'S',
    sourceSeq: 1,
    sourceSubject: 's',
    failedAt: new Date('2024-05-01T12:00:00.123Z'),
    size: 2,
    headers: undefined,
    payloadObject: undefined,
    rawHeaders: undefined,
    rawHeadersObject: undefined,
    data: new Uint8Array(),
  }

  it('fits each row to the width, cutting the error', () => {
    const t = new DeadLetterTable({ maxSeq: 12345, columns: 100 })
    const row = t.row(entry)
    expect(row).toHaveLength(100)
    expect(row).toMatch(/^ {4}7 {2}2024-05-01 12:00:00Z {2}non-retryable {11}1 {2}NonRetryableError: x+…$/)
    expect(t.header()).toMatch(/^ {2}SEQ {2}FAILED AT {13}KIND {11}DELIVERIES {2}ERROR$/)
  })

  it('shows a dash for a missing header', () => {
    const row = new DeadLetterTable({ maxSeq: 9 }).row({ ...entry, errorKind: undefined, deliveries: undefined, error: undefined })
    expect(row).toMatch(/ - {23}- {2}-$/)
  })

  it('truncate counts characters, not UTF-16 units', () => {
    expect(truncate('ab😀cd', 4)).toBe('ab😀…')
    expect(truncate('abc', 3)).toBe('abc')
  })
})
