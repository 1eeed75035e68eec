/**
 * Runs one handler inside a worker thread and decides its outcome there: the error classes of a
 * user's bundle are not ours and do not survive a thread hop, so classification happens here and
 * only a plain {@link Outcome} goes back.
 */
import type { Logger } from 'pino'
import type { FnContext, FnEvent, PublishOptions } from '../define.ts'
import { isNonRetryable, retryAfterMsOf } from '../errors/handler-errors.ts'
import type { LoadedDefinition } from './load-function-module.ts'
import type { Outcome, WireFunction, WireHeaders, WireMessage, WireOutput } from './protocol.ts'
import { Progress } from './protocol.ts'
import { validateWithSchema } from './validate-with-schema.ts'
import { toWireError } from './wire-error.ts'

/** Where an invocation reports that it started and finished (shared with the main thread). */
export interface InvocationSlot {
  progress: Float64Array
  index: number
  /** Lines the handler logged through `ctx.log`, as JSON. */
  logs?: string[]
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
const encoder = new TextEncoder()

export async function invoke(
  def: LoadedDefinition,
  fn: WireFunction,
  msg: WireMessage,
  payload: Uint8Array,
  slot: InvocationSlot,
  log: Logger,
): Promise<Outcome> {
  const startedAt = Date.now()
  slot.progress[slot.index] = startedAt
  const elapsed = (): number => Date.now() - startedAt
  try {
    const raw = payload.subarray(msg.offset, msg.offset + msg.length)
    const decoded = decode(fn, raw)
    if (!decoded.ok) return { kind: 'dead', errorKind: 'decode', error: { name: 'DecodeError', message: decoded.reason }, durationMs: elapsed() }
    let data = decoded.value
    if (def.schema !== undefined) {
      // A schema that throws (not just fails) is the function's bug, not the thread's: it must
      // not fail the whole batch.
      const checked = await validateWithSchema(def.schema, data).catch((err: unknown) => ({ ok: false as const, reason: `schema threw: ${toWireError(err).message}` }))
      if (!checked.ok) return { kind: 'dead', errorKind: 'schema', error: { name: 'SchemaError', message: checked.reason }, durationMs: elapsed() }
      data = checked.value
    }
    return await run(def, fn, msg, raw, data, log, elapsed)
  } finally {
    slot.progress[slot.index] = Progress.Done
  }
}

type Decoded = { ok: true; value: unknown } | { ok: false; reason: string }

function decode(fn: WireFunction, raw: Uint8Array): Decoded {
  if (fn.decode === 'binary') return { ok: true, value: raw }
  if (raw.length === 0) return { ok: false, reason: 'payload is empty, not JSON' }
  let text: string
  try {
    text = utf8.decode(raw)
  } catch {
    // The fatal decoder's own message says nothing more than this.
    return { ok: false, reason: 'payload is not valid UTF-8' }
  }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (err) {
    return { ok: false, reason: `payload is not valid JSON: ${(err as Error).message}` }
  }
}

async function run(
  def: LoadedDefinition,
  fn: WireFunction,
  msg: WireMessage,
  raw: Uint8Array,
  data: unknown,
  log: Logger,
  elapsed: () => number,
): Promise<Outcome> {
  const outputs: WireOutput[] = []
  let controller: AbortController | undefined
  let timedOut = false
  let childLog: Logger | undefined
  const timeoutError = (): Error => Object.assign(new Error(`timed out after ${fn.timeoutMs} ms`), { name: 'TimeoutError' })

  const event: FnEvent<unknown> = {
    data,
    raw,
    subject: msg.subject,
    headers: msg.headers ? Object.fromEntries(msg.headers) : {},
    seq: msg.seq,
    deliveries: msg.deliveries,
    time: new Date(msg.timeMs),
    stream: fn.stream,
  }
  // log and signal are made on first use: most handlers touch neither, and this is per message.
  const ctx: FnContext = {
    get log() {
      childLog ??= log.child({ fn: fn.name, version: fn.version.slice(0, 12), seq: msg.seq, deliveries: msg.deliveries })
      return childLog
    },
    get signal() {
      if (!controller) {
        controller = new AbortController()
        if (timedOut) controller.abort(timeoutError())
      }
      return controller.signal
    },
    publish(subject: string, value: unknown, opts?: PublishOptions) {
      outputs.push(toOutput(subject, value, opts))
    },
    function: { name: fn.name, version: fn.version },
  }

  const timer = setTimeout(() => {
    timedOut = true
    controller?.abort(timeoutError())
  }, fn.timeoutMs)
  try {
    await def.handler(event as never, ctx)
    if (timedOut) return { kind: 'retry', errorKind: 'timeout', error: toWireError(timeoutError()), durationMs: elapsed() }
    return { kind: 'ok', durationMs: elapsed(), outputs }
  } catch (err) {
    if (timedOut) return { kind: 'retry', errorKind: 'timeout', error: toWireError(timeoutError()), durationMs: elapsed() }
    return classify(err, elapsed())
  } finally {
    clearTimeout(timer)
  }
}

function classify(err: unknown, durationMs: number): Outcome {
  const error = toWireError(err)
  if (isNonRetryable(err)) return { kind: 'dead', errorKind: 'non-retryable', error, durationMs }
  const delayMs = retryAfterMsOf(err)
  return delayMs === undefined
    ? { kind: 'retry', errorKind: 'error', error, durationMs }
    : { kind: 'retry', errorKind: 'error', error, durationMs, delayMs }
}

const SUBJECT = /^[^\s*>.]+(\.[^\s*>.]+)*$/

function toOutput(subject: string, value: unknown, opts: PublishOptions | undefined): WireOutput {
  if (typeof subject !== 'string' || !SUBJECT.test(subject)) {
    throw new TypeError(`ctx.publish: ${JSON.stringify(subject)} is not a subject one can publish to`)
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
  if (opts?.headers) {
    headers = Object.entries(opts.headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : [String(v)]])
  }
  return { subject, data, headers }
}
