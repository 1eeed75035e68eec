import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { durationMs, formatDuration, parseDuration } from '../../runtime/config/duration.ts'

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [250, 250],
    [1.5, 1.5],
    ['0ms', 0],
    ['250ms', 250],
    ['10s', 10_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1m30s', 90_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['5ms', 5],
  ] as const)('reads %j as %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms)
  })

  it.each([
    ['abc', "'abc'"],
    ['', "''"],
    ['10', "'10'"],
    ['-1s', "'-1s'"],
    ['1 s', "'1 s'"],
    ['10S', "'10S'"],
    ['30s1m', "'30s1m'"],
    ['1s1s', "'1s1s'"],
    ['.5s', "'.5s'"],
    ['1w', "'1w'"],
    [-1, '-1'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
  ] as const)('rejects %j, quoting it', (input, quoted) => {
    expect(() => parseDuration(input)).toThrow(
      new RangeError(`invalid duration: must be a duration like '10s' or a number of ms (got ${quoted})`),
    )
  })
})

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [250, '250ms'],
    [1_000, '1s'],
    [90_000, '1m30s'],
    [24 * 86_400_000, '24d'],
    [93_784_005, '1d2h3m4s5ms'],
  ])('renders %d as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
    expect(parseDuration(text)).toBe(ms)
  })
})

describe('durationMs', () => {
  const schema = z.object({ wait: durationMs() })
  const messageOf = (s: z.ZodType, input: unknown) => {
    const r = s.safeParse(input)
    if (r.success) throw new Error(`expected a failure for ${JSON.stringify(input)}`)
    return r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
  }

  it('turns strings and numbers into ms', () => {
    expect(schema.parse({ wait: '1m30s' })).toEqual({ wait: 90_000 })
    expect(schema.parse({ wait: 42 })).toEqual({ wait: 42 })
  })

  it('reports a bad value with the house message', () => {
    expect(messageOf(schema, { wait: 'abc' })).toEqual(["wait: must be a duration like '10s' or a number of ms (got 'abc')"])
    expect(messageOf(schema, { wait: true })).toEqual(["wait: must be a duration like '10s' or a number of ms (got true)"])
    expect(messageOf(schema, { wait: -5 })).toEqual(["wait: must be a duration like '10s' or a number of ms (got -5)"])
  })

  it('enforces bounds, quoting the value as written', () => {
    const bounded = z.object({ wait: durationMs({ min: 1_000, max: 60_000 }) })
    expect(messageOf(bounded, { wait: '500ms' })).toEqual(["wait: must be at least 1s (got '500ms')"])
    expect(messageOf(bounded, { wait: '2m' })).toEqual(["wait: must be at most 1m (got '2m')"])
    expect(bounded.parse({ wait: '1s' })).toEqual({ wait: 1_000 })
    const positive = z.object({ wait: durationMs({ min: 0, exclusive: true }) })
    expect(messageOf(positive, { wait: '0s' })).toEqual(["wait: must be greater than 0 (got '0s')"])
  })
})
