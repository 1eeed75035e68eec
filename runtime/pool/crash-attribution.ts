/**
 * Who is to blame when a worker thread dies, pure: the tasks that were on it (their progress
 * slots, shared with the thread) and the error piscina rejected them with decide which messages
 * failed (`timeout` or `crash`) and which are handed back blameless (`requeue`).
 */
import { toWireError } from './wire-error.ts'
import { Progress, type Outcome } from './protocol.ts'

/** An outcome as the pool reports it: the worker's, or `requeue` for a message that was not at fault. */
export type PoolOutcome = Outcome | { kind: 'requeue'; reason: string }

/** What attribution needs to know of one task that was on the dead thread. */
export interface FailedTask {
  size: number
  /** Per message: 0 queued, -1 done, -2 the culprit, otherwise the `Date.now()` it started. */
  progress: Float64Array
  /** Messages the watchdog found past their timeout and grace. */
  timedOut: ReadonlySet<number>
  /** Whether it ran with crash tracking. */
  tracked: boolean
  fn: { timeoutMs: number; timeoutGraceMs: number }
}

/** The verdict: how to settle each unreported message, and whether to start tracking crashes. */
export interface Attribution {
  outcomeOf(task: FailedTask, index: number): PoolOutcome
  /** No culprit could be named: hand everything back and track crashes for a while. */
  startTracking: boolean
  /** What to log: the thread died by a crash (an error worth logging) or was ended on purpose. */
  crashed: boolean
}

/**
 * @param killedForTimeout the watchdog terminated this thread for a handler past its timeout.
 * @param now `Date.now()`, for the run time of a crashed handler.
 */
export function attributeFailure(tasks: readonly FailedTask[], err: unknown, killedForTimeout: boolean, now = Date.now()): Attribution {
  const error = toWireError(err)
  if (killedForTimeout) {
    return {
      crashed: false,
      startTracking: false,
      outcomeOf: (task, i) => (task.timedOut.has(i) ? timeoutOutcome(task) : { kind: 'requeue', reason: "its thread was terminated for another handler's timeout" }),
    }
  }
  if ((err as Error | undefined)?.name === 'AbortError') {
    // The pool is closing: nothing here is any handler's fault.
    return { crashed: false, startTracking: false, outcomeOf: () => ({ kind: 'requeue', reason: 'the pool closed' }) }
  }
  if (error.message === 'Terminating worker thread') {
    return { crashed: false, startTracking: false, outcomeOf: () => ({ kind: 'requeue', reason: 'its thread was terminated for another handler' }) }
  }
  const hasCulprit = tasks.some((t) => t.progress.some((p) => p === Progress.Culprit))
  if (!hasCulprit && !tasks.every((t) => t.tracked)) {
    // Without tracking, a throw from a timer or a process.exit() after an await cannot be pinned
    // on a handler, and a handler that finished may have left the timer that threw. Blame nobody:
    // hand every message back and run them again with tracking, which names the culprit if it
    // crashes again. What it costs: a crashing message runs once more than its deliveries.
    return { crashed: true, startTracking: true, outcomeOf: () => ({ kind: 'requeue', reason: 'its thread died; run again with crash tracking to find the culprit' }) }
  }
  const crash = { name: error.name === 'Error' ? 'WorkerCrash' : error.name, message: `worker thread died: ${error.message}` }
  return {
    crashed: true,
    startTracking: false,
    outcomeOf: (task, i) => {
      const p = task.progress[i]!
      const blamed = hasCulprit ? p === Progress.Culprit : p > 0
      return blamed
        ? { kind: 'retry', errorKind: 'crash', error: crash, durationMs: p > 0 ? now - p : 0 }
        : { kind: 'requeue', reason: 'its thread died running another handler' }
    },
  }
}

/** The outcome of a handler whose thread was terminated because it ignored its timeout. */
export function timeoutOutcome(task: Pick<FailedTask, 'fn'>): Outcome {
  return {
    kind: 'retry',
    errorKind: 'timeout',
    error: { name: 'TimeoutError', message: `timed out after ${task.fn.timeoutMs} ms and ignored its abort signal for ${task.fn.timeoutGraceMs} ms more: its thread was terminated` },
    durationMs: task.fn.timeoutMs + task.fn.timeoutGraceMs,
  }
}
