/**
 * Message keys: which messages of a function belong together, for ordering per key (`key`),
 * concurrency per key (`concurrency.key`) and debounce (`debounce.key`). A key is written as
 *
 * - `{ wildcard: N }`: the N-th wildcard token (`*`) of the function's subject, counted from 1 as
 *   NATS subject mappings count them (`orders.*.created`, `{ wildcard: 1 }` = the customer token);
 * - `{ header: 'Customer-Id' }`: the first value of that header (its name matched in any case);
 * - a function of the event, `(event) => string | number`, run in the handler threads like the
 *   handler itself (the main thread never runs user code).
 *
 * A message that has no value for its key (the header is missing) gets the empty key `''`: such
 * messages are grouped together, never let through unordered.
 */
import { z } from 'zod'
import { quoteValue } from '../config/format-issues.ts'
import type { WireHeaders } from '../pool/protocol.ts'
import { headerValue } from '../consumer/read-headers.ts'

/** A key resolved against the function's subject. */
export type ResolvedKey =
  /** `wildcard`: as written (1-based among the `*` tokens); `token`: its index among all tokens. */
  | { wildcard: number; token: number }
  | { header: string }
  /** A function of the event, run in the handler threads. */
  | { function: true }

/** Header names as NATS clients accept them: printable ASCII without `:`. */
const HEADER_NAME = /^[!-9;-~]+$/

/** Longest key used as is; longer ones are kept as their hash (see {@link boundedKey}). */
export const MAX_KEY_LENGTH = 256

/**
 * A key as written in `defineFunction`, checked for shape (the wildcard's range is checked by
 * {@link resolveKey} against the subject). The loader passes a key function as `{ function: true }`:
 * functions do not survive the trip out of the inspecting thread.
 */
export const keySpecSchema = z.unknown().transform((v, ctx): { wildcard: number } | { header: string } | { function: true } => {
  const fail = (message: string, path: PropertyKey[] = []) => {
    ctx.addIssue({ code: 'custom', input: v, path, message })
    return z.NEVER
  }
  const shape = `must be { wildcard: N }, { header: 'Name' } or a function of the event (got ${quoteValue(v)})`
  if (typeof v === 'function') return { function: true }
  if (typeof v !== 'object' || v === null) return fail(shape)
  const keys = Object.keys(v)
  if (keys.length !== 1) return fail(shape)
  if ('function' in v && (v as { function: unknown }).function === true) return { function: true }
  if ('wildcard' in v) {
    const n = (v as { wildcard: unknown }).wildcard
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) return fail(`must be a whole number of at least 1 (got ${quoteValue(n)})`, ['wildcard'])
    return { wildcard: n }
  }
  if ('header' in v) {
    const h = (v as { header: unknown }).header
    if (typeof h !== 'string' || !HEADER_NAME.test(h)) return fail(`must be a header name: printable ASCII without ':' or spaces (got ${quoteValue(h)})`, ['header'])
    return { header: h }
  }
  return fail(shape)
})

/**
 * Resolves a checked key against the function's subject; returns the key, or why it cannot be used
 * (a wildcard beyond the subject's `*` tokens).
 */
export function resolveKey(spec: { wildcard: number } | { header: string } | { function: true }, subject: string): ResolvedKey | string {
  if (!('wildcard' in spec)) return spec
  const tokens = subject.split('.')
  let seen = 0
  for (const [i, t] of tokens.entries()) {
    if (t === '*' && ++seen === spec.wildcard) return { wildcard: spec.wildcard, token: i }
  }
  return seen === 0
    ? `is { wildcard: ${spec.wildcard} } but the subject '${subject}' has no '*' token`
    : `is { wildcard: ${spec.wildcard} } but the subject '${subject}' has only ${seen} '*' token${seen === 1 ? '' : 's'}`
}

/** The key as people read it: "wildcard 1 (token 2 of the subject)", "header Customer-Id", "a function of the event". */
export function describeKey(key: ResolvedKey): string {
  if ('wildcard' in key) return `wildcard ${key.wildcard}`
  if ('header' in key) return `header ${key.header}`
  return 'a function of the event'
}

/**
 * A message's key, read on the main thread from its subject or headers; `undefined` for a key
 * function (the handler threads compute it). Never throws: it runs on the socket reader.
 */
export function keyOf(key: ResolvedKey, subject: string, headers: WireHeaders): string | undefined {
  if ('wildcard' in key) return tokenAt(subject, key.token)
  if ('header' in key) return boundedKey(headerValue(headers, key.header) ?? '')
  return undefined
}

/** Token `index` of `subject` (0-based), or '' when it has fewer tokens. */
function tokenAt(subject: string, index: number): string {
  let start = 0
  for (let i = 0; i < index; i++) {
    const dot = subject.indexOf('.', start)
    if (dot < 0) return ''
    start = dot + 1
  }
  const end = subject.indexOf('.', start)
  return boundedKey(end < 0 ? subject.slice(start) : subject.slice(start, end))
}

/**
 * A key kept to {@link MAX_KEY_LENGTH} characters: a longer one becomes its first 200 characters
 * plus a 32-bit FNV-1a hash of the whole, so that a publisher cannot make a replica hold megabytes
 * of keys, and two long keys sharing a prefix stay apart (a collision only groups two keys).
 */
export function boundedKey(key: string): string {
  if (key.length <= MAX_KEY_LENGTH) return key
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return `${key.slice(0, 200)}…#${h.toString(16).padStart(8, '0')}`
}

/**
 * A key function's result as a key: a string or a finite number (as its decimal string), bounded;
 * `undefined` and `null` are the empty key. Anything else is refused with the reason.
 */
export function keyFromValue(value: unknown): { ok: true; key: string } | { ok: false; reason: string } {
  if (value === undefined || value === null) return { ok: true, key: '' }
  if (typeof value === 'string') return { ok: true, key: boundedKey(value) }
  if (typeof value === 'number' && Number.isFinite(value)) return { ok: true, key: String(value) }
  if (typeof value === 'bigint') return { ok: true, key: value.toString() }
  return { ok: false, reason: `the key function must return a string or a number (got ${quoteValue(value)})` }
}
