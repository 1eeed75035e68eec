/**
 * The options of one function (everything in `defineFunction({...})` but the handler and schema):
 * validated with the house error format and resolved against `fn.config.ts` `defaults` into
 * {@link ResolvedFunctionOptions}, durations in milliseconds.
 */
import { basename, extname } from 'node:path'
import { z } from 'zod'
import type { ResolvedConfig } from '../config/config-schema.ts'
import { natsSubject, retryFieldSchemas, tuningFieldSchemas } from '../config/field-schemas.ts'
import { formatIssues, issueMessage, quoteValue, unlisted } from '../config/format-issues.ts'
import { durationMs as durationField } from '../config/duration.ts'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { defaultBurst } from '../rate/gcra.ts'
import { keySpecSchema, resolveKey, type ResolvedKey } from '../keys/key-spec.ts'
import { isTimeZone, parseCron } from '../schedule/cron-spec.ts'
import { tickSubject } from '../schedule/schedule-subjects.ts'

/** Longest function name: it becomes part of consumer names, DLQ subjects and KV keys. */
export const MAX_FUNCTION_NAME_LENGTH = 64
const NAME_RE = /^[A-Za-z0-9_-]+$/


/** Why `name` cannot name a function, or `undefined` when it can. */
export function functionNameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty'
  if (!NAME_RE.test(name)) return "must contain only letters, digits, '-' and '_'"
  if (name.length > MAX_FUNCTION_NAME_LENGTH) return `must be at most ${MAX_FUNCTION_NAME_LENGTH} characters`
  return undefined
}

/** `startFrom` as written: 'new', 'all', `{ seq }` or `{ time }` (a Date or an ISO time). */
const startFromSchema = z.unknown().transform((v, ctx): ResolvedStartFrom => {
  const fail = (message: string, path: PropertyKey[] = []) => {
    ctx.addIssue({ code: 'custom', input: v, path, message })
    return z.NEVER
  }
  if (v === 'new' || v === 'all') return v
  if (typeof v !== 'object' || v === null) return fail(`must be 'new', 'all', { seq } or { time } (got ${quoteValue(v)})`)
  const keys = Object.keys(v)
  if (keys.length !== 1 || (keys[0] !== 'seq' && keys[0] !== 'time')) return fail(`must be 'new', 'all', { seq } or { time } (got ${quoteValue(v)})`)
  if ('seq' in v) {
    const seq = (v as { seq: unknown }).seq
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return fail(`must be a whole number of at least 1 (got ${quoteValue(seq)})`, ['seq'])
    return { seq }
  }
  const t = (v as { time: unknown }).time
  const d = t instanceof Date ? t : typeof t === 'string' ? new Date(t) : undefined
  if (!d || Number.isNaN(d.getTime())) return fail(`must be a Date or an ISO time (got ${quoteValue(t)})`, ['time'])
  return { time: d.toISOString() }
})

/** `schedule` as written: `{ cron, tz? }` or `{ every }`. */
const scheduleSchema = z.unknown().transform((v, ctx): ResolvedSchedule => {
  const fail = (message: string, path: PropertyKey[] = []) => {
    ctx.addIssue({ code: 'custom', input: v, path, message })
    return z.NEVER
  }
  const shape = `must be { cron: '<sec> <min> <hour> <day> <month> <weekday>', tz?: 'Area/City' } or { every: '5m' } (got ${quoteValue(v)})`
  if (typeof v !== 'object' || v === null) return fail(shape)
  const o = v as Record<string, unknown>
  const keys = Object.keys(o)
  if ('every' in o) {
    if (keys.length !== 1) return fail(`takes no other field with 'every' (got ${quoteValue(v)})`)
    const parsed = durationField({ min: 1_000, max: MAX_EVERY_MS }).safeParse(o.every)
    if (!parsed.success) return fail(parsed.error.issues[0]!.message, ['every'])
    return { everyMs: parsed.data }
  }
  if (!('cron' in o) || keys.some((k) => k !== 'cron' && k !== 'tz')) return fail(shape)
  if (typeof o.cron !== 'string') return fail(`must be a string (got ${quoteValue(o.cron)})`, ['cron'])
  const cron = parseCron(o.cron)
  if (typeof cron === 'string') return fail(cron, ['cron'])
  if (o.tz !== undefined && (typeof o.tz !== 'string' || !isTimeZone(o.tz))) return fail(`must be an IANA time zone such as 'Europe/Berlin' (got ${quoteValue(o.tz)})`, ['tz'])
  return o.tz === undefined ? { cron: o.cron.trim() } : { cron: o.cron.trim(), tz: o.tz as string }
})

/** Longest `schedule.every`: 366 days. */
export const MAX_EVERY_MS = 366 * 86_400_000
/** Longest `debounce.period`: one day. */
export const MAX_DEBOUNCE_MS = 86_400_000

/** `schedule` resolved: a cron spec (six fields, seconds first) in a time zone, or an interval in ms. */
export type ResolvedSchedule = { cron: string; tz?: string } | { everyMs: number }

/** `debounce` resolved: the key against the subject, and the quiet period in ms. */
export interface ResolvedDebounce {
  key: ResolvedKey
  periodMs: number
}

/** Longest `rateLimit.per`: one day. */
export const MAX_RATE_PERIOD_MS = 86_400_000

/** `rateLimit` resolved: at most `limit` runs start per `perMs` across every replica, bursts of up to `burst`. */
export interface ResolvedRateLimit {
  limit: number
  perMs: number
  burst: number
}

/**
 * Messages grouped by key, resolved: `key` (ordered, one at a time per key) or `concurrency.key`
 * (at most `limit` at once per key, in any order). Either way one replica runs the function at a
 * time (the consumer's pinned client), so that the bound holds across replicas.
 */
export interface ResolvedKeying {
  key: ResolvedKey
  /** Runs of one key at once: 1 when ordered; unbounded (`Number.MAX_SAFE_INTEGER`) for a rate limit per key alone. */
  limit: number
  /** Runs started per period for each key (`rateLimit.key`), in the replica that owns the function. */
  rate?: ResolvedRateLimit | undefined
  /** Runs of a key start in stream order, one at a time, and a failed one holds back the later ones. */
  ordered: boolean
}

/** Where a new consumer starts, resolved (`time` as an ISO string). */
export type ResolvedStartFrom = 'new' | 'all' | { seq: number } | { time: string }

const concurrencyObject = z.strictObject({
  replica: tuningFieldSchemas.concurrency.optional(),
  total: z.number().int().min(1).max(1_000_000).optional(),
  key: keySpecSchema.optional(),
  limit: z.number().int().min(1).max(10_000).optional(),
})

/**
 * `concurrency`: a number (per replica) or an object. Checked by hand rather than as a zod union,
 * so that a wrong number reads "must be an integer", not "is invalid".
 */
const concurrencySchema = z.unknown().transform((v, ctx): number | z.output<typeof concurrencyObject> => {
  const r = typeof v === 'object' && v !== null ? concurrencyObject.safeParse(v, { error: issueMessage }) : tuningFieldSchemas.concurrency.safeParse(v, { error: issueMessage })
  if (r.success) return r.data
  for (const issue of r.error.issues) ctx.addIssue({ ...issue, input: (issue as { input?: unknown }).input ?? v } as never)
  return z.NEVER
})

const functionOptionsSchema = z.strictObject({
  name: z.string().optional(),
  subject: natsSubject().optional(),
  schedule: scheduleSchema.optional(),
  debounce: z.strictObject({ key: keySpecSchema, period: durationField({ min: 1_000, max: MAX_DEBOUNCE_MS }) }).optional(),
  decode: z.enum(['json', 'binary']).optional(),
  startFrom: startFromSchema.optional(),
  concurrency: concurrencySchema.optional(),
  key: keySpecSchema.optional(),
  timeout: tuningFieldSchemas.timeout.optional(),
  timeoutGrace: tuningFieldSchemas.timeoutGrace.optional(),
  ackWait: tuningFieldSchemas.ackWait.optional(),
  rateLimit: z
    .strictObject({
      limit: z.number().int().min(1).max(1_000_000),
      per: durationField({ min: 100, max: MAX_RATE_PERIOD_MS }),
      burst: z.number().int().min(1).max(1_000_000).optional(),
      key: keySpecSchema.optional(),
    })
    .optional(),
  retry: z
    .strictObject({
      maxDeliver: retryFieldSchemas.maxDeliver.optional(),
      backoff: retryFieldSchemas.backoff.optional(),
      jitter: retryFieldSchemas.jitter.optional(),
    })
    .optional(),
  /** Supplied by the loader: whether the export has a `handler` function. */
  hasHandler: unlisted(z.boolean().optional()),
  /** Supplied by the loader: whether the export has a `schema`. */
  hasSchema: unlisted(z.boolean().optional()),
  // Accepted so that the loader may pass the definition as it is; checked by hand below because
  // zod would skip an object-level refinement whenever a field is already wrong.
  handler: z.unknown().optional(),
  schema: z.unknown().optional(),
})

/** Function options as written in `defineFunction`, plus what the loader knows of the export. */
export type FunctionOptionsInput = z.input<typeof functionOptionsSchema>

/** A function's options, validated, with defaults filled and durations in milliseconds. */
export interface ResolvedFunctionOptions {
  /** From `name`, else the file's base name without extension. */
  name: string
  /** The filter subject; for a `schedule` function, where its ticks arrive (`fn.schedule.<name>`). */
  subject: string
  /** When the function runs on its own (`schedule`); it then has no subject of its own. */
  schedule?: ResolvedSchedule | undefined
  /** Runs once per key, `periodMs` after the last message of a burst (`debounce`). */
  debounce?: ResolvedDebounce | undefined
  /** How the payload becomes `event.data`. */
  decode: 'json' | 'binary'
  /** Whether the function validates `event.data` with a schema. */
  hasSchema: boolean
  /** Messages in flight at once in one replica. */
  concurrency: number
  /** Messages in flight across every replica together (`concurrency.total`): the consumer's `max_ack_pending`. */
  maxInFlight?: number | undefined
  /** Grouping by key (`key`, `concurrency.key`); unset: messages are independent. */
  keyed?: ResolvedKeying | undefined
  /** Handler timeout, in ms. */
  timeoutMs: number
  /** Time after the timeout before the thread is terminated, in ms. */
  timeoutGraceMs: number
  /** The consumer's ack wait, in ms. */
  ackWaitMs: number
  /** Where the consumer starts when first created. */
  startFrom: ResolvedStartFrom
  /** Runs started per period across every replica, when limited (`rateLimit`). */
  rateLimit?: ResolvedRateLimit | undefined
  /** Redelivery policy. */
  retry: {
    /** Deliveries before dead-lettering, the first included. */
    maxDeliver: number
    /** Delay before each redelivery, in ms; the last entry repeats. */
    backoffMs: number[]
    /** Random spread of each delay, as a fraction of it. */
    jitter: number
  }
}

function isSchemaLike(x: unknown): boolean {
  if ((typeof x !== 'object' && typeof x !== 'function') || x === null) return false
  const candidate = x as { safeParse?: unknown; '~standard'?: { validate?: unknown } }
  return typeof candidate.safeParse === 'function' || typeof candidate['~standard']?.validate === 'function'
}

type Problem = { path: PropertyKey[]; message: string }
const asIssue = (p: Problem): z.core.$ZodIssue => ({ code: 'custom', path: p.path, message: p.message })

// Checks that need the whole export; kept out of zod so they are reported along with field errors.
function exportProblems(raw: Record<string, unknown>): Problem[] {
  const problems: Problem[] = []
  const hasHandler = typeof raw.hasHandler === 'boolean' ? raw.hasHandler : typeof raw.handler === 'function'
  if (!hasHandler) {
    const got = raw.handler === undefined ? '' : ` (got ${quoteValue(raw.handler)})`
    problems.push({ path: ['handler'], message: `must be a function${got}` })
  }
  if (raw.schema !== undefined && !isSchemaLike(raw.schema)) {
    problems.push({ path: ['schema'], message: `must be a zod schema or a Standard Schema (got ${quoteValue(raw.schema)})` })
  } else if (raw.decode === 'binary' && (raw.schema !== undefined || raw.hasSchema === true)) {
    problems.push({ path: ['schema'], message: "cannot be used with decode 'binary': a schema validates parsed JSON" })
  }
  if (raw.schedule !== undefined) {
    if (raw.subject !== undefined) problems.push({ path: ['schedule'], message: `cannot be used with 'subject': a scheduled function's ticks come on its own subject (got subject ${quoteValue(raw.subject)})` })
    if (raw.startFrom !== undefined) problems.push({ path: ['startFrom'], message: "cannot be used with 'schedule': missed ticks are not replayed" })
    if (raw.debounce !== undefined) problems.push({ path: ['debounce'], message: "cannot be used with 'schedule'" })
    if (raw.key !== undefined) problems.push({ path: ['key'], message: "cannot be used with 'schedule': ticks have no key" })
  } else if (raw.subject === undefined) {
    problems.push({ path: ['subject'], message: "must be a subject to consume, or give 'schedule' for a function that runs on a schedule" })
  }
  return problems
}

type ParsedOptions = z.output<typeof functionOptionsSchema>

/** The function's keying from `key` or `concurrency.key`; adds a problem for what cannot be used. */
function keyingOf(o: ParsedOptions, problems: Problem[]): ResolvedKeying | undefined {
  const c = typeof o.concurrency === 'object' ? o.concurrency : undefined
  if (c?.limit !== undefined && c.key === undefined) {
    problems.push({ path: ['concurrency', 'limit'], message: 'is a limit per key and needs concurrency.key (for a limit per replica, use concurrency.replica)' })
  }
  if (o.key !== undefined && c?.key !== undefined) {
    problems.push({ path: ['key'], message: "cannot be used with concurrency.key: 'key' runs one message of a key at a time, in order; 'concurrency.key' allows 'limit' at once, in any order" })
    return undefined
  }
  const rateKey = o.rateLimit?.key
  const spec = o.key ?? c?.key ?? rateKey
  if (spec === undefined) return undefined
  if (rateKey !== undefined && (o.key ?? c?.key) !== undefined && JSON.stringify(rateKey) !== JSON.stringify(o.key ?? c?.key)) {
    problems.push({ path: ['rateLimit', 'key'], message: `must be the same key as ${o.key !== undefined ? 'key' : 'concurrency.key'}: a function has one key` })
    return undefined
  }
  const path = o.key !== undefined ? ['key'] : c?.key !== undefined ? ['concurrency', 'key'] : ['rateLimit', 'key']
  const key = resolveKey(spec, o.subject ?? '')
  if (typeof key === 'string') {
    problems.push({ path, message: key })
    return undefined
  }
  const rate = o.rateLimit && rateKey !== undefined ? resolveRate(o.rateLimit) : undefined
  const keying: ResolvedKeying =
    o.key !== undefined ? { key, limit: 1, ordered: true } : c?.key !== undefined ? { key, limit: c.limit ?? 1, ordered: false } : { key, limit: Number.MAX_SAFE_INTEGER, ordered: false }
  return Object.freeze(rate ? { ...keying, rate } : keying)
}

function resolveRate(r: { limit: number; per: number; burst?: number | undefined }): ResolvedRateLimit {
  return Object.freeze({ limit: r.limit, perMs: r.per, burst: r.burst ?? defaultBurst(r.limit) })
}

/**
 * Validates one function's options and fills them from the config's `defaults`.
 *
 * @param raw the function's default export (its `handler` and `schema` are only checked for
 *   presence and shape), or its options with `hasHandler` / `hasSchema` set by the loader.
 * @param opts.file the function's file as shown to the user; its base name is the default name.
 * @returns frozen options.
 * @throws FnError `FN_FUNCTION_INVALID`, one line per problem:
 *   `functions/x.ts: 'retry.maxDeliver' must be at least 1 (got 0)`.
 */
export function resolveFunctionOptions(
  raw: unknown,
  opts: { file: string; defaults: ResolvedConfig['defaults'] },
): ResolvedFunctionOptions {
  const result = functionOptionsSchema.safeParse(raw, { error: issueMessage })
  const problems: Problem[] = typeof raw === 'object' && raw !== null ? exportProblems(raw as Record<string, unknown>) : []

  const rawName = typeof raw === 'object' && raw !== null ? (raw as { name?: unknown }).name : undefined
  const fromFile = rawName === undefined
  const name = fromFile ? basename(opts.file, extname(opts.file)) : rawName
  // A non-string name is already reported by the schema.
  const nameProblem = typeof name === 'string' ? functionNameProblem(name) : undefined
  if (nameProblem !== undefined) {
    const origin = fromFile ? ", from the file name; rename the file or set 'name'" : ''
    problems.push({ path: ['name'], message: `${nameProblem} (got ${quoteValue(name)}${origin})` })
  }
  const keyed = result.success ? keyingOf(result.data, problems) : undefined
  if (!result.success || typeof name !== 'string' || problems.length > 0) {
    const issues = [...(result.success ? [] : result.error.issues), ...problems.map(asIssue)]
    throw new FnError(FnErrorCode.FunctionInvalid, formatIssues(issues, { file: opts.file }), {
      cause: result.success ? undefined : result.error,
    })
  }

  const o = result.data
  // The wildcard of a debounce key must exist in the subject.
  const debounceKey = o.debounce && o.subject !== undefined ? resolveKey(o.debounce.key, o.subject) : undefined
  if (typeof debounceKey === 'string') {
    throw new FnError(FnErrorCode.FunctionInvalid, formatIssues([asIssue({ path: ['debounce', 'key'], message: debounceKey })], { file: opts.file }))
  }
  const d = opts.defaults
  const retry = Object.freeze({
    maxDeliver: o.retry?.maxDeliver ?? d.retry.maxDeliver,
    backoffMs: Object.freeze([...(o.retry?.backoff ?? d.retry.backoffMs)]) as number[],
    jitter: o.retry?.jitter ?? d.retry.jitter,
  })
  return Object.freeze({
    name,
    subject: o.schedule ? tickSubject(name) : o.subject!,
    ...(o.schedule ? { schedule: Object.freeze(o.schedule) } : {}),
    ...(o.debounce && debounceKey ? { debounce: Object.freeze({ key: debounceKey, periodMs: o.debounce.period }) } : {}),
    decode: o.decode ?? 'json',
    hasSchema: o.hasSchema ?? o.schema !== undefined,
    concurrency: (typeof o.concurrency === 'number' ? o.concurrency : o.concurrency?.replica) ?? d.concurrency,
    ...(typeof o.concurrency === 'object' && o.concurrency.total !== undefined ? { maxInFlight: o.concurrency.total } : {}),
    ...(keyed ? { keyed } : {}),
    timeoutMs: o.timeout ?? d.timeoutMs,
    timeoutGraceMs: o.timeoutGrace ?? d.timeoutGraceMs,
    ackWaitMs: o.ackWait ?? d.ackWaitMs,
    // The ticks' stream is a work queue: its consumers start at what it holds (only ticks not yet run).
    startFrom: o.schedule ? 'all' : (o.startFrom ?? 'new'),
    // A rate limit per key is kept by the owner of the function (see keyed.rate), not in FN_RATES.
    ...(o.rateLimit && o.rateLimit.key === undefined ? { rateLimit: resolveRate(o.rateLimit) } : {}),
    retry,
  })
}
