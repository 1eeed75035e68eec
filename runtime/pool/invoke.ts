/**
 * Runs one handler inside a worker thread and decides its outcome there: the error classes of a
 * user's bundle are not ours and do not survive a thread hop, so classification happens here and
 * only a plain {@link Outcome} goes back.
 */
import type { Logger } from 'pino'
import type { FnContext, FnEvent, PublishOptions } from '../define.ts'
import { isNonRetryable, retryAfterMsOf } from '../errors/handler-errors.ts'
import { toOutput } from './output.ts'
import type { LoadedDefinition } from './load-function-module.ts'
import type { Outcome, RequeueOutcome, WireFunction, WireMessage, WireOutput } from './protocol.ts'
import { Progress } from './protocol.ts'
import { validateWithSchema } from './validate-with-schema.ts'
import { toWireError } from './wire-error.ts'
import { debounceOutput, isDebounceIntake } from './debounce-intake.ts'
import { headerValue } from '../consumer/read-headers.ts'

/** Where an invocation reports that it started and finished (shared with the main thread). */
export interface InvocationSlot {
  progress: Float64Array
  index: number
  /** Lines the handler logged through `ctx.log`, as JSON. */
  logs?: string[]
}

/** Names, on a `ctx.log` logger (and, by prototype, its children), the invocation it belongs to. */
export const LOG_SLOT = Symbol('jetfn.invocationSlot')

/**
 * The timeouts of one batch with one timer. Handlers of a batch start one after another on one
 * thread and share a timeout, so their deadlines come in order: the timer is armed for the
 * oldest running one and moves on as it fires. A timer per message cost a timer insert and
 * removal for every invocation (about 1 µs, more in GC).
 */
export class BatchDeadlines {
  readonly #timeoutMs: number
  readonly #running: InvocationContext[] = []
  #head = 0
  #timer: NodeJS.Timeout | undefined

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs
  }

  add(ctx: InvocationContext): void {
    this.#running.push(ctx)
    if (this.#timer === undefined) this.#arm(ctx.startedAt)
  }

  /** The replica is stopping: every handler of the batch still running sees its signal abort. */
  shutdown(reason: string): void {
    for (let i = this.#head; i < this.#running.length; i++) {
      const ctx = this.#running[i]!
      if (!ctx.finished) ctx.shutdown(reason)
    }
  }

  /** The batch is over: no timer is left behind. */
  close(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm(startedAt: number): void {
    const wait = Math.max(0, startedAt + this.#timeoutMs - performance.now())
    this.#timer = setTimeout(() => this.#fire(), Math.ceil(wait))
  }

  #fire(): void {
    this.#timer = undefined
    const now = performance.now()
    while (this.#head < this.#running.length) {
      const ctx = this.#running[this.#head]!
      if (!ctx.finished) {
        if (now - ctx.startedAt < this.#timeoutMs) {
          this.#arm(ctx.startedAt)
          return
        }
        ctx.timeout()
      }
      this.#head++
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Where an invocation's outcome goes: plain successes as a duration only (no object). */
export interface InvocationReport {
  ok(slot: InvocationSlot, durationMs: number): void
  outcome(slot: InvocationSlot, outcome: Outcome | RequeueOutcome): void
}

/**
 * Runs one message through its function and reports the outcome to `report`, exactly once.
 * Callbacks rather than an async function: a no-op handler then costs the handler's own promise
 * and one `then`, not a chain of three async frames (this runs once per message).
 */
export function invoke(
  def: LoadedDefinition,
  fn: WireFunction,
  msg: WireMessage,
  payload: Uint8Array,
  slot: InvocationSlot,
  log: Logger,
  deadlines: BatchDeadlines,
  report: InvocationReport,
): void {
  // Wall clock for the watchdog (comparable across threads); a monotonic, sub-millisecond clock
  // for the duration (a no-op handler takes well under 1 ms).
  slot.progress[slot.index] = Date.now()
  const startedAt = performance.now()
  const raw = payload.subarray(msg.offset, msg.offset + msg.length)
  const decoded = decode(fn, raw)
  if (!decoded.ok) {
    finish(slot, report, { kind: 'dead', errorKind: 'decode', error: { name: 'DecodeError', message: decoded.reason }, durationMs: elapsedMs(startedAt) })
    return
  }
  if (def.schema === undefined) {
    run(def, fn, msg, raw, decoded.value, log, slot, deadlines, report, startedAt)
    return
  }
  // A schema that throws (not just fails) is the function's bug, not the thread's: it must not
  // fail the whole batch.
  validateWithSchema(def.schema, decoded.value)
    .catch((err: unknown) => ({ ok: false as const, reason: `schema threw: ${toWireError(err).message}` }))
    .then((checked) => {
      if (checked.ok) run(def, fn, msg, raw, checked.value, log, slot, deadlines, report, startedAt)
      else finish(slot, report, { kind: 'dead', errorKind: 'schema', error: { name: 'SchemaError', message: checked.reason }, durationMs: elapsedMs(startedAt) })
    })
    .catch((err: unknown) => finish(slot, report, classify(err, elapsedMs(startedAt))))
}

function finish(slot: InvocationSlot, report: InvocationReport, outcome: Outcome): void {
  slot.progress[slot.index] = Progress.Done
  report.outcome(slot, outcome)
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

/**
 * The `ctx` of one invocation. A class, not an object literal of closures: this is built once
 * per message, and prototype getters cost nothing per message (tsx's keepNames wraps every
 * closure in a defineProperty call, which profiled at a few µs per message).
 */
export class InvocationContext implements FnContext {
  readonly outputs: WireOutput[] = []
  timedOut = false
  finished = false
  /** Set when the replica's shutdown aborted the signal: why. */
  shutdownReason: string | undefined
  /** When the handler was called, `performance.now()`. */
  readonly startedAt = performance.now()
  #controller: AbortController | undefined
  #log: Logger | undefined
  readonly #root: Logger
  readonly #fn: WireFunction
  readonly #msg: WireMessage
  readonly #slot: InvocationSlot

  constructor(fn: WireFunction, msg: WireMessage, root: Logger, slot: InvocationSlot) {
    this.#fn = fn
    this.#msg = msg
    this.#root = root
    this.#slot = slot
  }

  get function(): { name: string; version: string } {
    return { name: this.#fn.name, version: this.#fn.version }
  }

  // log and signal are made on first use: most handlers touch neither.
  get log(): Logger {
    if (!this.#log) {
      const child = this.#root.child({ fn: this.#fn.name, version: this.#fn.version.slice(0, 12), seq: this.#msg.seq, deliveries: this.#msg.deliveries })
      // The worker's log capture reads this to send the line back with this invocation's outcome.
      Object.defineProperty(child, LOG_SLOT, { value: this.#slot })
      this.#log = child
    }
    return this.#log
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.timedOut) this.#controller.abort(this.timeoutError())
      else if (this.shutdownReason !== undefined) this.#controller.abort(this.shutdownError())
    }
    return this.#controller.signal
  }

  publish(subject: string, value: unknown, opts?: PublishOptions): void {
    this.outputs.push(toOutput(subject, value, opts, this.#fn))
  }

  timeout(): void {
    this.timedOut = true
    this.#controller?.abort(this.timeoutError())
  }

  /** The replica is stopping: the signal aborts with a `ShutdownError` saying why. */
  shutdown(reason: string): void {
    if (this.timedOut || this.shutdownReason !== undefined) return
    this.shutdownReason = reason
    this.#controller?.abort(this.shutdownError())
  }

  shutdownError(): Error {
    return Object.assign(new Error(this.shutdownReason ?? 'the replica is shutting down'), { name: 'ShutdownError' })
  }

  timeoutError(): Error {
    return Object.assign(new Error(`timed out after ${this.#fn.timeoutMs} ms`), { name: 'TimeoutError' })
  }
}

function run(
  def: LoadedDefinition,
  fn: WireFunction,
  msg: WireMessage,
  raw: Uint8Array,
  data: unknown,
  log: Logger,
  slot: InvocationSlot,
  deadlines: BatchDeadlines,
  report: InvocationReport,
  startedAt: number,
): void {
  const event = eventOf(fn, msg, raw, data)
  if (isDebounceIntake(fn, msg)) {
    debounceOutput(def, fn, msg, raw, event).then(
      (out) => finish(slot, report, { kind: 'ok', durationMs: elapsedMs(startedAt), outputs: [out] }),
      (err: unknown) =>
        finish(slot, report, (err as Error)?.name === 'KeyError' ? { kind: 'dead', errorKind: 'non-retryable', error: toWireError(err), durationMs: elapsedMs(startedAt) } : classify(err, elapsedMs(startedAt))),
    )
    return
  }
  const ctx = new InvocationContext(fn, msg, log, slot)
  deadlines.add(ctx)
  let result: unknown
  try {
    result = def.handler(event as never, ctx)
  } catch (err) {
    settle(ctx, slot, report, startedAt, err, true)
    return
  }
  if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
    ;(result as PromiseLike<unknown>).then(
      () => settle(ctx, slot, report, startedAt, undefined, false),
      (err: unknown) => settle(ctx, slot, report, startedAt, err, true),
    )
  } else {
    settle(ctx, slot, report, startedAt, undefined, false)
  }
}

/**
 * A tick of a `schedule` (the server sets `Nats-Scheduler` and `Nats-Schedule-Next` on what a
 * schedule produces): its instant, to the second (ticks are stored within the second they are
 * due; cron has no finer field), and the next one.
 */
/** The `event` a handler (or a key function) gets for one message. */
export function eventOf(fn: Pick<WireFunction, 'stream'>, msg: WireMessage, raw: Uint8Array, data: unknown): FnEvent<unknown> {
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
  if (msg.headers) addScheduleTimes(event, msg)
  return event
}

function addScheduleTimes(event: FnEvent<unknown>, msg: WireMessage): void {
  const next = headerValue(msg.headers, 'Nats-Schedule-Next')
  if (next === undefined || headerValue(msg.headers, 'Nats-Scheduler') === undefined) return
  event.scheduledAt = new Date(Math.floor(msg.timeMs / 1000) * 1000)
  const nextMs = Date.parse(next)
  if (!Number.isNaN(nextMs)) event.nextAt = new Date(nextMs)
}

function settle(ctx: InvocationContext, slot: InvocationSlot, report: InvocationReport, startedAt: number, err: unknown, failed: boolean): void {
  ctx.finished = true
  slot.progress[slot.index] = Progress.Done
  const durationMs = elapsedMs(startedAt)
  if (ctx.timedOut) report.outcome(slot, { kind: 'retry', errorKind: 'timeout', error: toWireError(ctx.timeoutError()), durationMs })
  // Failing once told to stop is no fault of the message: it goes back, to run again elsewhere.
  else if (failed && ctx.shutdownReason !== undefined) report.outcome(slot, { kind: 'requeue', reason: `handler stopped by shutdown: ${toWireError(err).message}` })
  else if (failed) report.outcome(slot, classify(err, durationMs))
  else if (ctx.outputs.length === 0) report.ok(slot, durationMs)
  else report.outcome(slot, { kind: 'ok', durationMs, outputs: ctx.outputs })
}

/** Milliseconds since `startedAt` (a `performance.now()`), to the microsecond. */
function elapsedMs(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 1000) / 1000
}

function classify(err: unknown, durationMs: number): Outcome {
  const error = toWireError(err)
  if (isNonRetryable(err)) return { kind: 'dead', errorKind: 'non-retryable', error, durationMs }
  const delayMs = retryAfterMsOf(err)
  return delayMs === undefined
    ? { kind: 'retry', errorKind: 'error', error, durationMs }
    : { kind: 'retry', errorKind: 'error', error, durationMs, delayMs }
}
