/**
 * What `ctx.publish` buffers: one output, checked at the call, so that a handler learns at once
 * (and not later, at settle time) that an output cannot work: a subject that is not one, a system
 * subject, a value that is not JSON, or a message over the server's `max_payload`.
 */
import type { PublishOptions } from '../define.ts'
import { NonRetryableError } from '../errors/handler-errors.ts'
import { toMs } from '../config/duration-ms.ts'
import type { WireFunction, WireHeaders, WireOutput } from './protocol.ts'

const encoder = new TextEncoder()
const SUBJECT = /^[^\s*>.]+(\.[^\s*>.]+)*$/
/** Subjects of the server and its clients' plumbing: an output there could steer JetStream itself (DESIGN, trust). */
const SYSTEM_SUBJECT = /^(\$JS|\$KV|\$O|\$SYS|_INBOX)\./i
/** nats-server's default `max_payload`, bytes. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024
/** Header bytes every output carries beyond the caller's: the version line and `Nats-Msg-Id`. */
const OUTPUT_HEADER_OVERHEAD = 64
/** More for a delayed one: the schedule's headers and those the server adds when it fires. */
const SCHEDULE_HEADER_OVERHEAD = 320

/** The output of `ctx.publish(subject, value, opts)` for function `fn`; throws what the handler should see. */
export function toOutput(subject: string, value: unknown, opts: PublishOptions | undefined, fn: WireFunction): WireOutput {
  if (typeof subject !== 'string' || !SUBJECT.test(subject)) {
    throw new TypeError(`ctx.publish: ${JSON.stringify(subject)} is not a subject one can publish to`)
  }
  if (SYSTEM_SUBJECT.test(subject)) {
    throw new NonRetryableError(`ctx.publish: '${subject}' is a system subject ($JS., $KV., $O., $SYS., _INBOX.); handlers may not publish there`)
  }
  let data: Uint8Array
  if (value instanceof Uint8Array) data = new Uint8Array(value)
  else if (typeof value === 'string') data = encoder.encode(value)
  else {
    const json = JSON.stringify(value)
    if (json === undefined) throw new TypeError(`ctx.publish: ${typeof value} cannot be sent as JSON`)
    data = encoder.encode(json)
  }
  let headers: WireHeaders = null
  let size = data.length + OUTPUT_HEADER_OVERHEAD + fn.name.length + fn.stream.length
  if (opts?.headers) {
    headers = Object.entries(opts.headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : [String(v)]])
    for (const [k, values] of headers) for (const v of values) size += k.length + v.length + 4
  }
  const at = dueTime(opts)
  if (at !== undefined) size += SCHEDULE_HEADER_OVERHEAD + subject.length
  const maxPayload = fn.maxPayload ?? DEFAULT_MAX_PAYLOAD
  if (size > maxPayload) {
    throw new NonRetryableError(`ctx.publish: the output to '${subject}' is ${size} bytes with its headers, over the server's max_payload of ${maxPayload}`)
  }
  return at === undefined ? { subject, data, headers } : { subject, data, headers, at }
}

/** When a delayed output is due (ms since the epoch), from `delay` or `at`; undefined: at once. */
function dueTime(opts: PublishOptions | undefined): number | undefined {
  if (opts?.delay === undefined && opts?.at === undefined) return undefined
  if (opts.delay !== undefined && opts.at !== undefined) throw new TypeError("ctx.publish: give 'delay' or 'at', not both")
  if (opts.at !== undefined) {
    if (!(opts.at instanceof Date) || Number.isNaN(opts.at.getTime())) throw new TypeError(`ctx.publish: 'at' must be a valid Date (got ${String(opts.at)})`)
    return opts.at.getTime()
  }
  const ms = toMs(opts.delay)
  if (ms === undefined) throw new TypeError(`ctx.publish: 'delay' must be a duration like '10m' or a number of ms (got ${JSON.stringify(opts.delay)})`)
  return Date.now() + ms
}
