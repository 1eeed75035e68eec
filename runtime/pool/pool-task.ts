/**
 * A batch as the pool tracks it between dispatch and its last outcome, and the watchdog's rule
 * for a handler that ignores its timeout.
 */
import type { PoolOutcome } from './crash-attribution.ts'
import type { WireFunction } from './protocol.ts'

/** nats-server's default `max_payload`, bytes. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024

/**
 * Receives the outcome of each message of a dispatched batch, exactly once per message: `ok` for
 * a plain success (no outputs, no log lines), which needs no outcome object, `outcome` otherwise.
 */
export interface OutcomeSink {
  ok(index: number, durationMs: number): void
  outcome(index: number, outcome: PoolOutcome): void
}

/** What the pool needs to know of a function beyond what its workers need. */
export interface DispatchFunction extends WireFunction {
  /** How long past its timeout a handler may run before its thread is terminated, ms. */
  timeoutGraceMs: number
}

/** One dispatched batch. */
export interface TaskState {
  fn: DispatchFunction
  size: number
  progress: Float64Array
  delivered: Uint8Array
  deliveredCount: number
  /** Outcomes the worker streamed that have still to arrive after the task resolved. */
  awaitingStreamed: number
  streamedReceived: number
  timedOut: Set<number>
  /** Set once the watchdog has terminated the task's thread. */
  terminating: boolean
  /** Sent with crash tracking on. */
  tracked: boolean
  /** The thread the balancer gave it to (0 until then). */
  threadId: number
  sink: OutcomeSink
}


/**
 * Tasks with a handler running past its timeout plus grace, each marked in `timedOut`: their
 * threads are to be terminated (tasks already being terminated are skipped).
 */
export function findOverdue(tasks: Iterable<TaskState>, now: number): TaskState[] {
  const overdue: TaskState[] = []
  for (const task of tasks) {
    if (task.terminating) continue
    const limit = task.fn.timeoutMs + task.fn.timeoutGraceMs
    for (let i = 0; i < task.size; i++) {
      const startedAt = task.progress[i]!
      if (startedAt > 0 && now - startedAt > limit) task.timedOut.add(i)
    }
    if (task.timedOut.size > 0) overdue.push(task)
  }
  return overdue
}

/** A task just dispatched: nothing reported yet, no thread chosen yet. */
export function newTaskState(fn: DispatchFunction, size: number, progress: Float64Array, tracked: boolean, sink: OutcomeSink): TaskState {
  return { fn, size, progress, delivered: new Uint8Array(size), deliveredCount: 0, awaitingStreamed: -1, streamedReceived: 0, timedOut: new Set(), terminating: false, tracked, threadId: 0, sink }
}

/** What a worker needs of a function: a copy, so nothing else crosses the thread boundary. */
export function toWireFunction(fn: WireFunction, maxPayload: number): WireFunction {
  return { name: fn.name, version: fn.version, stream: fn.stream, bundlePath: fn.bundlePath, decode: fn.decode, timeoutMs: fn.timeoutMs, maxPayload, ...(fn.debounce ? { debounce: fn.debounce } : {}) }
}

/** The running estimate of how long starting one message blocks a thread, ms: 80 % old, 20 % new. */
export function movingBlockingMs(before: number | undefined, perMessage: number): number {
  return before === undefined ? perMessage : before * 0.8 + perMessage * 0.2
}
