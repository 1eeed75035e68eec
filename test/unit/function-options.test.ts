import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { resolveConfig } from '../../runtime/config/config-schema.ts'
import { defineFunction } from '../../runtime/define.ts'
import { FnError } from '../../runtime/errors/fn-error.ts'
import { subjectProblem } from '../../runtime/config/field-schemas.ts'
import { functionNameProblem, resolveFunctionOptions } from '../../runtime/function/function-options.ts'

const defaults = resolveConfig({}, { file: 'fn.config.ts', env: {} }).defaults
const file = 'functions/x.ts'
const resolve = (raw: unknown, f = file, d = defaults) => resolveFunctionOptions(raw, { file: f, defaults: d })
const handler = async () => {}

function failure(raw: unknown, f = file): FnError {
  try {
    resolve(raw, f)
  } catch (err) {
    if (err instanceof FnError) return err
    throw err
  }
  throw new Error('expected resolveFunctionOptions to throw')
}

describe('resolveFunctionOptions', () => {
  it('fills options from the config defaults and names the function after its file', () => {
    expect(resolve({ subject: 'orders.created', hasHandler: true })).toEqual({
      name: 'x',
      subject: 'orders.created',
      decode: 'json',
      hasSchema: false,
      concurrency: 8,
      timeoutMs: 30_000,
      timeoutGraceMs: 1_000,
      ackWaitMs: 30_000,
      startFrom: 'new',
      retry: { maxDeliver: 5, backoffMs: [1_000, 10_000, 60_000], jitter: 0.2 },
    })
  })

  it('takes defaults from fn.config.ts, and the function wins over them', () => {
    const custom = resolveConfig(
      { defaults: { concurrency: 2, timeout: '5s', retry: { maxDeliver: 3, backoff: ['2s'] } } },
      { file: 'fn.config.ts', env: {} },
    ).defaults
    const options = resolve({ subject: 'a', hasHandler: true, concurrency: 4, retry: { jitter: 0 } }, file, custom)
    expect(options).toMatchObject({ concurrency: 4, timeoutMs: 5_000, retry: { maxDeliver: 3, backoffMs: [2_000], jitter: 0 } })
  })

  it('accepts the definition as defineFunction returns it', () => {
    const def = defineFunction({
      name: 'reserve_inventory-2',
      subject: 'orders.*',
      schema: z.object({ orderId: z.string() }),
      concurrency: 16,
      timeout: '10s',
      timeoutGrace: '500ms',
      ackWait: '1m',
      retry: { maxDeliver: 5, backoff: ['1s', '5s', '30s', '2m'], jitter: 0.2 },
      handler,
    })
    expect(resolve(def, 'functions/reserve-inventory.ts')).toEqual({
      name: 'reserve_inventory-2',
      subject: 'orders.*',
      decode: 'json',
      hasSchema: true,
      concurrency: 16,
      timeoutMs: 10_000,
      timeoutGraceMs: 500,
      ackWaitMs: 60_000,
      startFrom: 'new',
      retry: { maxDeliver: 5, backoffMs: [1_000, 5_000, 30_000, 120_000], jitter: 0.2 },
    })
  })

  it('freezes the result deeply and leaves the input and the defaults alone', () => {
    const raw = { subject: 'a', hasHandler: true, retry: { backoff: ['1s'] } }
    const before = structuredClone(raw)
    const options = resolve(raw)
    expect(raw).toEqual(before)
    expect(Object.isFrozen(options)).toBe(true)
    expect(Object.isFrozen(options.retry)).toBe(true)
    expect(Object.isFrozen(options.retry.backoffMs)).toBe(true)
    expect(resolve({ subject: 'a', hasHandler: true }).retry.backoffMs).not.toBe(defaults.retry.backoffMs)
  })

  it('uses the base name of any extension', () => {
    expect(resolve({ subject: 'a', hasHandler: true }, 'functions/nested/resize.mts').name).toBe('resize')
  })

  it('names the file, the field and the value', () => {
    const err = failure({ subject: 'a', hasHandler: true, retry: { maxDeliver: 0 } })
    expect(err.code).toBe('FN_FUNCTION_INVALID')
    expect(err.message).toBe("functions/x.ts: 'retry.maxDeliver' must be at least 1 (got 0)")
  })

  it('requires a handler', () => {
    expect(failure({ subject: 'a' }).message).toBe("functions/x.ts: 'handler' must be a function")
    expect(failure({ subject: 'a', hasHandler: false }).message).toBe("functions/x.ts: 'handler' must be a function")
    expect(failure({ subject: 'a', handler: 'run' }).message).toBe("functions/x.ts: 'handler' must be a function (got 'run')")
  })

  it.each([
    [{ subject: 'a.>.b' }, "'subject' is not a valid NATS subject: '>' must be the last token (got 'a.>.b')"],
    [{}, "'subject' must be a subject to consume, or give 'schedule' for a function that runs on a schedule"],
    [{ subject: '' }, "'subject' must not be empty (got '')"],
    [{ subject: 'a', name: 'a b' }, "'name' must contain only letters, digits, '-' and '_' (got 'a b')"],
    [{ subject: 'a', name: 'n'.repeat(65) }, `'name' must be at most 64 characters (got '${'n'.repeat(58)}…)`],
    [{ subject: 'a', concurrency: 0 }, "'concurrency' must be at least 1 (got 0)"],
    [{ subject: 'a', concurrency: 20_000 }, "'concurrency' must be at most 10000 (got 20000)"],
    [{ subject: 'a', concurrency: 2.5 }, "'concurrency' must be an integer (got 2.5)"],
    [{ subject: 'a', timeout: 0 }, "'timeout' must be greater than 0 (got 0)"],
    [{ subject: 'a', timeout: '10 s' }, "'timeout' must be a duration like '10s' or a number of ms (got '10 s')"],
    [{ subject: 'a', timeout: '30d' }, "'timeout' must be at most 24d (got '30d')"],
    [{ subject: 'a', ackWait: 999 }, "'ackWait' must be at least 1s (got 999)"],
    [{ subject: 'a', retry: { maxDeliver: 1.5 } }, "'retry.maxDeliver' must be an integer (got 1.5)"],
    [{ subject: 'a', retry: { backoff: [] } }, "'retry.backoff' must not be empty (got [])"],
    [{ subject: 'a', retry: { backoff: '1s' } }, "'retry.backoff' must be an array (got '1s')"],
    [{ subject: 'a', retry: { jitter: -0.1 } }, "'retry.jitter' must be at least 0 (got -0.1)"],
    [{ subject: 'a', decode: 'text' }, "'decode' must be one of 'json', 'binary' (got 'text')"],
    [{ subject: 'a', schema: {} }, "'schema' must be a zod schema or a Standard Schema (got {})"],
    [{ subject: 'a', decode: 'binary', schema: z.string() }, "'schema' cannot be used with decode 'binary': a schema validates parsed JSON"],
  ])('rejects %j', (raw, message) => {
    expect(failure({ handler, ...raw }).message).toBe(`functions/x.ts: ${message}`)
  })

  it('explains a file name that cannot be a function name', () => {
    expect(failure({ subject: 'a', handler }, 'functions/my func.ts').message).toBe(
      "functions/my func.ts: 'name' must contain only letters, digits, '-' and '_' (got 'my func', from the file name; rename the file or set 'name')",
    )
    expect(resolve({ subject: 'a', handler, name: 'my-func' }, 'functions/my func.ts').name).toBe('my-func')
  })

  it('names an unknown option without offering the loader-only fields', () => {
    expect(failure({ subject: 'a', handler, timout: '1s' }).message).toBe(
      "functions/x.ts: 'timout' is not a known field (expected one of 'name', 'subject', 'schedule', 'debounce', 'decode', 'startFrom', 'concurrency', 'key', 'timeout', 'timeoutGrace', 'ackWait', 'rateLimit', 'retry', 'handler', 'schema')",
    )
  })

  it.each([
    ['new', 'new'],
    ['all', 'all'],
    [{ seq: 42 }, { seq: 42 }],
    [{ time: new Date('2026-01-02T03:04:05Z') }, { time: '2026-01-02T03:04:05.000Z' }],
    [{ time: '2026-01-02T03:04:05+01:00' }, { time: '2026-01-02T02:04:05.000Z' }],
  ] as const)('resolves startFrom %o', (startFrom, resolved) => {
    expect(resolve({ subject: 'a', handler, startFrom }, 'functions/x.ts').startFrom).toEqual(resolved)
  })

  it.each([
    [{ seq: 0 }, "'startFrom.seq' must be a whole number of at least 1 (got 0)"],
    ['latest', "'startFrom' must be 'new', 'all', { seq } or { time } (got 'latest')"],
    [{ time: 'yesterday' }, "'startFrom.time' must be a Date or an ISO time (got 'yesterday')"],
  ])('refuses startFrom %o', (startFrom, message) => {
    expect(failure({ subject: 'a', handler, startFrom }).message).toContain(message)
  })

  it('resolves rateLimit to a period in ms and a burst of a tenth of the limit unless given', () => {
    expect(resolve({ subject: 'a', handler, rateLimit: { limit: 100, per: '1m' } }).rateLimit).toEqual({ limit: 100, perMs: 60_000, burst: 10 })
    expect(resolve({ subject: 'a', handler, rateLimit: { limit: 3, per: 1_000, burst: 3 } }).rateLimit).toEqual({ limit: 3, perMs: 1_000, burst: 3 })
    expect(resolve({ subject: 'a', handler }).rateLimit).toBeUndefined()
  })

  it.each([
    [{ limit: 0, per: '1s' }, "'rateLimit.limit' must be at least 1 (got 0)"],
    [{ limit: 10, per: '10ms' }, "'rateLimit.per' must be at least 100ms (got '10ms')"],
    [{ limit: 10 }, "'rateLimit.per'"],
    [{ limit: 10, per: '1s', key: 'Customer-Id' }, "'rateLimit.key' must be { wildcard: N }, { header: 'Name' } or a function of the event (got 'Customer-Id')"],
  ])('refuses rateLimit %o', (rateLimit, message) => {
    expect(failure({ subject: 'a', handler, rateLimit }).message).toContain(message)
  })

  it('lists every problem, one per line', () => {
    expect(failure({ subject: 'a b', concurrency: 0, name: 'bad name' }).message).toBe(
      [
        "functions/x.ts: 'subject' is not a valid NATS subject: it contains whitespace (got 'a b')",
        "functions/x.ts: 'concurrency' must be at least 1 (got 0)",
        "functions/x.ts: 'handler' must be a function",
        "functions/x.ts: 'name' must contain only letters, digits, '-' and '_' (got 'bad name')",
      ].join('\n'),
    )
  })

  it('describes a default export that is not an object', () => {
    expect(failure(42).message).toBe('functions/x.ts: the default export must be an object (got 42)')
  })
})

describe('subjectProblem', () => {
  it.each(['a', 'orders.created', 'orders.*', 'orders.>', '>', '*.b.>', 'a-b_c.$d'])('accepts %s', (subject) => {
    expect(subjectProblem(subject)).toBeUndefined()
  })
  it.each([
    ['', 'must not be empty'],
    ['a.', 'is not a valid NATS subject: it has an empty token'],
    ['.a', 'is not a valid NATS subject: it has an empty token'],
    ['a\tb', 'is not a valid NATS subject: it contains whitespace'],
    ['a.b*', "is not a valid NATS subject: '*' and '>' must be whole tokens"],
    ['a.>b', "is not a valid NATS subject: '*' and '>' must be whole tokens"],
    ['>.a', "is not a valid NATS subject: '>' must be the last token"],
  ])('refuses %j', (subject, problem) => {
    expect(subjectProblem(subject)).toBe(problem)
  })
})

describe('functionNameProblem', () => {
  it('accepts letters, digits, - and _ up to 64 characters', () => {
    expect(functionNameProblem('Resize_2-x')).toBeUndefined()
    expect(functionNameProblem('n'.repeat(64))).toBeUndefined()
    expect(functionNameProblem('n'.repeat(65))).toBe('must be at most 64 characters')
    expect(functionNameProblem('a.b')).toBe("must contain only letters, digits, '-' and '_'")
  })
})

describe('keys: ordering, concurrency and rate limits per key', () => {
  it('resolves key to ordered, one at a time', () => {
    const o = resolve({ subject: 'orders.*.created', key: { wildcard: 1 }, hasHandler: true })
    expect(o.keyed).toEqual({ key: { wildcard: 1, token: 1 }, limit: 1, ordered: true })
  })

  it('resolves concurrency as an object: per replica, total, and per key', () => {
    const o = resolve({ subject: 'jobs', concurrency: { replica: 16, total: 40, key: { header: 'Tenant' }, limit: 3 }, hasHandler: true })
    expect([o.concurrency, o.maxInFlight, o.keyed]).toEqual([16, 40, { key: { header: 'Tenant' }, limit: 3, ordered: false }])
  })

  it('keeps a rate limit per key with the key, not in the shared bucket', () => {
    const o = resolve({ subject: 'jobs', rateLimit: { limit: 10, per: '1s', key: { header: 'Tenant' } }, hasHandler: true })
    expect(o.rateLimit).toBeUndefined()
    expect(o.keyed).toMatchObject({ limit: Number.MAX_SAFE_INTEGER, ordered: false, rate: { limit: 10, perMs: 1_000, burst: 1 } })
  })

  it('refuses what cannot work, naming the field', () => {
    expect(failure({ subject: 'orders.created', key: { wildcard: 1 }, hasHandler: true }).message).toMatch(/'key' is \{ wildcard: 1 \} but the subject 'orders.created' has no '\*' token/)
    expect(failure({ subject: 'jobs', concurrency: { limit: 2 }, hasHandler: true }).message).toMatch(/'concurrency.limit' is a limit per key and needs concurrency.key/)
    expect(failure({ subject: 'jobs', key: { header: 'A' }, concurrency: { key: { header: 'A' } }, hasHandler: true }).message).toMatch(/'key' cannot be used with concurrency.key/)
    expect(failure({ subject: 'jobs', key: { header: 'A' }, rateLimit: { limit: 1, per: '1s', key: { header: 'B' } }, hasHandler: true }).message).toMatch(/'rateLimit.key' must be the same key as key/)
    expect(failure({ subject: 'jobs', key: 'customer', hasHandler: true }).message).toMatch(/'key' must be \{ wildcard: N \}, \{ header: 'Name' \} or a function of the event \(got 'customer'\)/)
  })
})
