import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { validateWithSchema } from '../../runtime/pool/validate-with-schema.ts'

const order = z.object({
  id: z.string(),
  items: z.array(z.object({ qty: z.number().int().positive() })),
})

describe('validateWithSchema with a zod 4 schema', () => {
  it('passes valid data through', async () => {
    const data = { id: 'o-1', items: [{ qty: 2 }] }
    expect(await validateWithSchema(order, data)).toEqual({ ok: true, value: data })
  })

  it('hands over the parsed value, with coercions and defaults applied', async () => {
    const schema = z.object({ n: z.coerce.number(), tag: z.string().default('none') })
    expect(await validateWithSchema(schema, { n: '7' })).toEqual({ ok: true, value: { n: 7, tag: 'none' } })
  })

  it('strips unknown keys as the schema says', async () => {
    expect(await validateWithSchema(z.object({ id: z.string() }), { id: 'a', extra: 1 })).toEqual({ ok: true, value: { id: 'a' } })
  })

  it('fails with every issue and its path', async () => {
    expect(await validateWithSchema(order, { id: 1, items: [{ qty: 1 }, { qty: -2 }] })).toEqual({
      ok: false,
      reason: "'id': Invalid input: expected string, received number; 'items.1.qty': Too small: expected number to be >0",
    })
  })

  it('fails without a path prefix when the root itself is wrong', async () => {
    expect(await validateWithSchema(z.string(), 5)).toEqual({ ok: false, reason: 'Invalid input: expected string, received number' })
  })

  it('reports a missing field by its name', async () => {
    const result = await validateWithSchema(order, { items: [] })
    expect(result).toEqual({ ok: false, reason: "'id': Invalid input: expected string, received undefined" })
  })

  it('reports at most 10 issues', async () => {
    const schema = z.array(z.string())
    const result = await validateWithSchema(schema, Array.from({ length: 15 }, (_, i) => i))
    expect(result.ok).toBe(false)
    const reason = (result as { reason: string }).reason
    expect(reason.split('; ')).toHaveLength(10)
    expect(reason.startsWith("'0': Invalid input")).toBe(true)
    expect(reason).toContain("'9': ")
    expect(reason).not.toContain("'10': ")
  })

  // zod's safeParse() throws on async checks; ~standard.validate awaits them.
  it('accept valid data for a schema with an async refinement', async () => {
    const schema = z.string().refine(async (v) => v === 'ok', 'must be ok')
    expect(await validateWithSchema(schema, 'ok')).toEqual({ ok: true, value: 'ok' })
  })

  it('reject invalid data for a schema with an async refinement', async () => {
    const schema = z.string().refine(async (v) => v === 'ok', 'must be ok')
    expect(await validateWithSchema(schema, 'nope')).toEqual({ ok: false, reason: 'must be ok' })
  })
})

interface Issue {
  message: string
  path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>
}

/** A hand-written Standard Schema (as valibot or arktype expose), with no safeParse. */
function standard(validate: (value: unknown) => { value?: unknown; issues?: Issue[] } | Promise<{ value?: unknown; issues?: Issue[] }>) {
  return { '~standard': { version: 1, vendor: 'test', validate } }
}

const positive = standard((value) =>
  typeof value === 'number' && value > 0 ? { value: value * 10 } : { issues: [{ message: 'must be a positive number', path: ['amount'] }] },
)

describe('validateWithSchema with a Standard Schema', () => {
  it('passes the validated value through', async () => {
    expect(await validateWithSchema(positive, 4)).toEqual({ ok: true, value: 40 })
  })

  it('fails with the issue and its path', async () => {
    expect(await validateWithSchema(positive, -1)).toEqual({ ok: false, reason: "'amount': must be a positive number" })
  })

  it('awaits an async validate', async () => {
    const schema = standard(async (value) => (value === 'yes' ? { value: 'YES' } : { issues: [{ message: 'say yes' }] }))
    expect(await validateWithSchema(schema, 'yes')).toEqual({ ok: true, value: 'YES' })
    expect(await validateWithSchema(schema, 'no')).toEqual({ ok: false, reason: 'say yes' })
  })

  it('reads path segments given as { key } objects, numeric keys included', async () => {
    const schema = standard(() => ({ issues: [{ message: 'bad', path: [{ key: 'user' }, 'tags', { key: 2 }] }] }))
    expect(await validateWithSchema(schema, {})).toEqual({ ok: false, reason: "'user.tags.2': bad" })
  })

  it('joins several issues, leaving out the path of a root issue', async () => {
    const schema = standard(() => ({ issues: [{ message: 'too short' }, { message: 'required', path: ['name'] }, { message: 'root', path: [] }] }))
    expect(await validateWithSchema(schema, {})).toEqual({ ok: false, reason: "too short; 'name': required; root" })
  })

  it('fails with a generic reason for an empty issue list', async () => {
    expect(await validateWithSchema(standard(() => ({ issues: [] })), 1)).toEqual({ ok: false, reason: 'schema validation failed' })
  })

  it('accepts a value of undefined as a success', async () => {
    expect(await validateWithSchema(standard(() => ({ value: undefined })), 'x')).toEqual({ ok: true, value: undefined })
  })
})

describe('validateWithSchema with a safeParse-only schema', () => {
  it('uses safeParse', async () => {
    const schema = {
      safeParse: (d: unknown) =>
        d === 1 ? { success: true, data: 'one' } : { success: false, error: { issues: [{ message: 'not one', path: ['n'] }] } },
    }
    expect(await validateWithSchema(schema, 1)).toEqual({ ok: true, value: 'one' })
    expect(await validateWithSchema(schema, 2)).toEqual({ ok: false, reason: "'n': not one" })
  })
})

describe('validateWithSchema with something that is not a schema', () => {
  it.each([
    ['an empty object', {}],
    ['a non-function safeParse', { safeParse: true }],
    ['a ~standard without validate', { '~standard': { version: 1, vendor: 'x' } }],
  ])('fails for %s, saying what it lacks', async (_what, schema) => {
    expect(await validateWithSchema(schema, { id: 'a' })).toEqual({
      ok: false,
      reason: "the function's schema has neither safeParse() nor ~standard.validate()",
    })
  })
})
