import type { ResolvedDebounce } from '../function/function-options.ts'

/**
 * The wire format between the main thread and the worker threads. Everything here crosses a
 * thread boundary by structured clone, so it is plain data: no classes, no functions, and errors
 * as `{ name, message, stack }`. The main thread never uses `instanceof` on what comes back.
 */

/** Headers as they cross threads: `[name, values]` pairs, or null when the message had none. */
export type WireHeaders = Array<[string, string[]]> | null

/**
 * One message of a batch as the worker sees it, read from the task's columns
 * ({@link readMessage}). Its payload is `payload.subarray(offset, offset + length)`.
 */
export interface WireMessage {
  seq: number
  deliveries: number
  subject: string
  /** Stream time of the message, ms since the epoch. */
  timeMs: number
  headers: WireHeaders
  offset: number
  length: number
}

/** What a worker needs to know of the function a batch is for. */
export interface WireFunction {
  name: string
  version: string
  stream: string
  /** Absolute path of the bundle (an ES module) to import. */
  bundlePath: string
  decode: 'json' | 'binary'
  timeoutMs: number
  /** The server's `max_payload`, bytes: the largest output `ctx.publish` can send. */
  maxPayload?: number
  /** `debounce`: a message not yet debounced becomes a pending run of its key instead of running. */
  debounce?: ResolvedDebounce | undefined
}

/** Float64 columns per message in {@link BatchTask.buffer}: seq, deliveries, timeMs, offset, length, subject. */
export const COLUMNS = 6

/**
 * One piscina task: a batch of messages of one function, in columns rather than one object per
 * message: structured clone costs per object, and on the main thread (the replica's bottleneck)
 * cloning ~100 small objects per task profiled at 3 to 4 µs a message.
 */
export interface BatchTask {
  taskId: number
  fn: WireFunction
  count: number
  /**
   * Transferred, never shared with the socket buffer: `count * COLUMNS` Float64s (per message:
   * seq, deliveries, stream time in ms, payload offset, payload length, index into `subjects`),
   * then every payload back to back (offsets count from the start of the buffer).
   */
  buffer: ArrayBuffer
  /**
   * How many of the batch's handlers may run at once (the slots of the function's `concurrency`
   * the main thread gave it); the rest wait in the worker, in order, and start as others end.
   * Unset: all of them.
   */
  slots?: number
  /** The distinct subjects of the batch. */
  subjects: string[]
  /** Per message, when any message of the batch has headers; otherwise null. */
  headers: WireHeaders[] | null
  /**
   * Set to compute each message's key with the function's key function (a keyed function whose
   * key is a function of the event) instead of running the handler: outcomes are `ok` with `key`.
   */
  keys?: boolean
  /**
   * Follow each invocation's async context (AsyncLocalStorage), so that a crash from a timer or
   * after an await is pinned on its handler. Costly: on only while the pool hunts an unknown culprit.
   */
  track: boolean
  /**
   * One Float64 slot per message, written by the worker and read by the main thread's watchdog:
   * {@link Progress}; then one more holding the threadId of the worker running the task. Shared
   * memory, so a thread blocked in a CPU-bound handler is still visible.
   */
  progress: SharedArrayBuffer
}

/** Values of a progress slot; any positive value is the `Date.now()` at which the handler started. */
export const Progress = {
  Queued: 0,
  Done: -1,
  /** The handler running on this slot called `process.exit()` or threw from a detached callback. */
  Culprit: -2,
} as const

export interface WireError {
  name: string
  message: string
  stack?: string
}

/** A `ctx.publish` call, buffered until the handler resolves. */
export interface WireOutput {
  subject: string
  data: Uint8Array
  headers: WireHeaders
  /** Due time, ms since the epoch (`delay` / `at`): stored as an `@at` schedule until then. */
  at?: number
  /** Set on the pending run of a debounce key (the message itself, held until `at`): its key. */
  debounceKey?: string
}

/** Failure kinds, as they appear in `Fn-Error-Kind`. */
export type ErrorKind = 'error' | 'timeout' | 'crash' | 'schema' | 'decode' | 'non-retryable' | 'max-deliver'

/** The outcome of one invocation, decided inside the worker (or by the pool, for crashes). */
export type Outcome = (
  /** `key`: in a `keys` task, the message's key (nothing ran). */
  | { kind: 'ok'; durationMs: number; outputs: WireOutput[]; key?: string }
  | { kind: 'retry'; errorKind: 'error' | 'timeout' | 'crash'; error: WireError; durationMs: number; delayMs?: number }
  | { kind: 'dead'; errorKind: 'schema' | 'decode' | 'non-retryable'; error: WireError; durationMs: number }
  /** The function's module could not be loaded in the worker: not the message's fault. */
  | { kind: 'unloadable'; error: WireError }
) & {
  /** JSON lines the handler logged through `ctx.log`, when it logged any. */
  logs?: string[]
}

/**
 * A message handed back without blame, decided in the worker: its handler failed after its
 * `ctx.signal` aborted because the replica is stopping. Run again at once, by another replica.
 */
export interface RequeueOutcome {
  kind: 'requeue'
  reason: string
}

/**
 * Outcomes of a batch: plain successes (no outputs, no logs) as `[index, durationMs]` pairs in
 * `ok`, every other outcome as `[index in batch, outcome]` in `results`.
 */
export interface Outcomes {
  ok: Float64Array | null
  results: Array<[number, Outcome | RequeueOutcome]>
  /**
   * How long starting the batch blocked the thread, ms: the synchronous parts of its handlers.
   * Sent once per task, with the first report after every message started.
   */
  blockedMs?: number
}

/** Outcomes streamed from a worker before its task has finished. */
export interface OutcomeMessage extends Outcomes {
  jetfnOutcomes: true
  taskId: number
}

/** What a task resolves to: the outcomes not streamed, and how many were streamed before. */
export interface BatchResult extends Outcomes {
  streamed: number
}

/** Reads message `index` of a task (in the worker). */
export function readMessage(task: BatchTask, columns: Float64Array, index: number): WireMessage {
  const at = index * COLUMNS
  return {
    seq: columns[at]!,
    deliveries: columns[at + 1]!,
    timeMs: columns[at + 2]!,
    offset: columns[at + 3]!,
    length: columns[at + 4]!,
    subject: task.subjects[columns[at + 5]!]!,
    headers: task.headers?.[index] ?? null,
  }
}

export function isOutcomeMessage(value: unknown): value is OutcomeMessage {
  return typeof value === 'object' && value !== null && (value as OutcomeMessage).jetfnOutcomes === true
}
