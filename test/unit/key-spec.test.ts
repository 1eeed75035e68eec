import { describe, expect, it } from 'vitest'
import { boundedKey, keyFromValue, keyOf, keySpecSchema, resolveKey, MAX_KEY_LENGTH } from '../../runtime/keys/key-spec.ts'

const parse = (v: unknown) => keySpecSchema.safeParse(v)

describe('key spec', () => {
  it('accepts the three forms', () => {
    expect(parse({ wildcard: 1 }).data).toEqual({ wildcard: 1 })
    expect(parse({ header: 'Customer-Id' }).data).toEqual({ header: 'Customer-Id' })
    expect(parse(() => 'k').data).toEqual({ function: true })
    expect(parse({ function: true }).data).toEqual({ function: true })
  })

  it('refuses other shapes, naming the value', () => {
    expect(parse('customer').error?.issues[0]?.message).toMatch(/must be \{ wildcard: N \}.*got 'customer'/)
    expect(parse({ wildcard: 0 }).error?.issues[0]?.path).toEqual(['wildcard'])
    expect(parse({ header: 'Bad Name' }).error?.issues[0]?.message).toMatch(/header name/)
    expect(parse({ wildcard: 1, header: 'x' }).success).toBe(false)
  })

  it('resolves a wildcard against the subject, counting * tokens from 1', () => {
    expect(resolveKey({ wildcard: 1 }, 'orders.*.created')).toEqual({ wildcard: 1, token: 1 })
    expect(resolveKey({ wildcard: 2 }, 'a.*.b.*.>')).toEqual({ wildcard: 2, token: 3 })
    expect(resolveKey({ wildcard: 2 }, 'orders.*.created')).toMatch(/has only 1 '\*' token/)
    expect(resolveKey({ wildcard: 1 }, 'orders.>')).toMatch(/has no '\*' token/)
  })

  it('reads keys from subjects and headers, the empty key when absent', () => {
    expect(keyOf({ wildcard: 1, token: 1 }, 'orders.c42.created', null)).toBe('c42')
    expect(keyOf({ wildcard: 2, token: 3 }, 'a.x.b.y.z', null)).toBe('y')
    expect(keyOf({ header: 'Customer-Id' }, 'x', [['customer-id', ['c7', 'c8']]])).toBe('c7')
    expect(keyOf({ header: 'Customer-Id' }, 'x', null)).toBe('')
    expect(keyOf({ function: true }, 'x', null)).toBeUndefined()
  })

  it('bounds long keys, keeping long keys with one prefix apart', () => {
    const a = 'x'.repeat(10_000) + 'a'
    const b = 'x'.repeat(10_000) + 'b'
    expect(boundedKey(a).length).toBeLessThanOrEqual(MAX_KEY_LENGTH)
    expect(boundedKey(a)).not.toBe(boundedKey(b))
    expect(boundedKey('short')).toBe('short')
  })

  it('takes strings and numbers from key functions, refuses objects', () => {
    expect(keyFromValue(7)).toEqual({ ok: true, key: '7' })
    expect(keyFromValue(undefined)).toEqual({ ok: true, key: '' })
    expect(keyFromValue({ id: 1 })).toMatchObject({ ok: false, reason: expect.stringMatching(/string or a number/) })
  })
})
