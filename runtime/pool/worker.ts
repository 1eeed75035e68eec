/**
 * The piscina worker entry. Each task is a batch of messages of one function: the worker imports
 * the function's bundle once per version, starts every message of the batch, and reports each
 * outcome as soon as it is known (streamed to the main thread once per event-loop turn), so that
 * one slow message never holds back the settling of the others.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { AsyncLocalStorage } from 'node:async_hooks'
import type { Logger } from 'pino'
import type { BatchResult, BatchTask, Outcome, OutcomeMessage, Outcomes, RequeueOutcome } from './protocol.ts'
import { COLUMNS, Progress, readMessage } from './protocol.ts'
import { loadFunctionModule } from './load-function-module.ts'
import { BatchDeadlines, invoke, LOG_SLOT, type InvocationReport, type InvocationSlot } from './invoke.ts'
import { toWireError } from './wire-error.ts'
import { computeKeys } from './compute-keys.ts'
import { createWorkerLogger, type WorkerLogOptions } from '../log/worker-logger.ts'
import { listenForShutdown, SHUTDOWN_CHANNEL_FIELD } from './shutdown-broadcast.ts'

// Which invocation caused a process.exit() or an uncaught throw from a timer, so that it is pinned
// on that one handler instead of on every message sharing this thread.
//
// Two ways, by cost. Always: the invocation whose synchronous part is running (`syncSlot`), which
// covers a process.exit() before the handler's first await. Only for tasks sent with `track`: an
// AsyncLocalStorage, which follows timers and awaits too. Node 20's AsyncLocalStorage runs promise
// hooks on every promise of the thread, which profiled at about 5 µs per message, a third of the
// worker's cost, so the pool turns it on only after a thread died without a known culprit: its
// messages are handed back blameless and run again tracked (see WorkerPool).
const current = new AsyncLocalStorage<InvocationSlot>()
let syncSlot: InvocationSlot | undefined
let tracked = 0

function culpritSlot(): InvocationSlot | undefined {
  return (tracked > 0 ? current.getStore() : undefined) ?? syncSlot
}

const log = createWorkerLogger((workerData ?? {}) as WorkerLogOptions, (line: string, logger: Logger) => {
  // Each ctx.log knows its invocation: its lines go back with the outcome (to `fn.logs.<fn>`).
  const slot = (logger as unknown as Record<symbol, InvocationSlot | undefined>)[LOG_SLOT]
  if (slot) (slot.logs ??= []).push(line.endsWith('\n') ? line.slice(0, -1) : line)
})

/** The batches running on this thread: told when the replica stops (their handlers' signals abort). */
const runningBatches = new Set<BatchDeadlines>()
let stopping: string | undefined
listenForShutdown((workerData as Record<string, string | undefined> | null)?.[SHUTDOWN_CHANNEL_FIELD], (reason) => {
  stopping = reason
  for (const batch of runningBatches) batch.shutdown(reason)
})

function markCulprit(): void {
  const slot = culpritSlot()
  if (slot) slot.progress[slot.index] = Progress.Culprit
}

const realExit = process.exit.bind(process)
process.exit = ((code?: number | string | null) => {
  markCulprit()
  return realExit(code ?? undefined)
}) as typeof process.exit
// 'uncaughtExceptionMonitor' runs in the async context of the callback that threw and does not
// stop the thread from dying, which is what we want: the pool replaces it.
process.on('uncaughtExceptionMonitor', markCulprit)

export default async function runBatch(task: BatchTask): Promise<BatchResult> {
  const progress = new Float64Array(task.progress)
  // The last slot names this thread, so the main thread can terminate it if a handler hangs.
  progress[task.count] = threadId
  const fn = await loadFunctionModule(task.fn.bundlePath).then(
    (definition) => ({ ok: true as const, definition }),
    (err: unknown) => ({ ok: false as const, err }),
  )
  if (!fn.ok) {
    // A probe (no messages) reports the failure itself: the version must not be switched to.
    if (task.count === 0) throw fn.err
    const outcome: Outcome = { kind: 'unloadable', error: toWireError(fn.err) }
    const results: Array<[number, Outcome]> = []
    for (let i = 0; i < task.count; i++) {
      progress[i] = Progress.Done
      results.push([i, outcome])
    }
    return { ok: null, results, streamed: 0 }
  }

  if (task.count === 0) return { ok: null, results: [], streamed: 0 }
  if (task.keys) return computeKeys(task, fn.definition, progress)
  const payload = new Uint8Array(task.buffer)
  const columns = new Float64Array(task.buffer, 0, task.count * COLUMNS)
  const deadlines = new BatchDeadlines(task.fn.timeoutMs)
  let resolve!: (result: BatchResult) => void
  const promise = new Promise<BatchResult>((r) => (resolve = r))
  runningBatches.add(deadlines)
  const reports = new OutcomeReports(task.taskId, task.count, task.track, () => {
    runningBatches.delete(deadlines)
    deadlines.close()
    resolve(reports.finish())
  })
  const run = (index: number): void => {
    const message = readMessage(task, columns, index)
    const slot: InvocationSlot = { progress, index }
    if (task.track) tracked++
    // A message that waited here for a slot and would start after the replica's stop notice goes
    // back unrun (blameless), as one still queued on the main thread would.
    if (stopping !== undefined && index >= slots) {
      progress[index] = Progress.Done
      gated.outcome(slot, { kind: 'requeue', reason: `the replica is stopping: ${stopping}` })
      return
    }
    if (task.track) {
      current.run(slot, invoke, fn.definition, task.fn, message, payload, slot, log, deadlines, gated)
    } else {
      syncSlot = slot
      try {
        invoke(fn.definition, task.fn, message, payload, slot, log, deadlines, gated)
      } finally {
        syncSlot = undefined
      }
    }
  }
  // At most `slots` handlers of the batch run at once: the others start as earlier ones end.
  // The batch's blocking time (sizing later batches) is the synchronous part of every start.
  const slots = Math.min(task.count, task.slots ?? task.count)
  let started = 0
  let running = 0
  let pumping = false
  let blockedMs = 0
  let blockedReported = false
  const pump = (): void => {
    if (pumping) return
    pumping = true
    const t0 = performance.now()
    while (running < slots && started < task.count) {
      running++
      run(started++)
    }
    blockedMs += performance.now() - t0
    pumping = false
    if (started === task.count && !blockedReported) {
      blockedReported = true
      reports.blocked(blockedMs)
    }
  }
  const gated: InvocationReport =
    slots === task.count
      ? reports
      : {
          ok: (slot, durationMs) => {
            running--
            reports.ok(slot, durationMs)
            pump()
          },
          outcome: (slot, outcome) => {
            running--
            reports.outcome(slot, outcome)
            pump()
          },
        }
  pump()
  // A batch that started after the notice (already on its way when it came) is stopped too.
  if (stopping !== undefined) deadlines.shutdown(stopping)
  return promise
}

function untrack(): void {
  // With nothing tracked left, the promise hooks go off until the next tracked task.
  if (--tracked === 0) current.disable()
}

/**
 * Outcomes on their way to the main thread, sent once per event-loop turn. A plain success (no
 * outputs, no log lines), nearly every outcome, travels as two numbers in a Float64Array rather
 * than as an object: structured clone costs per object, on both threads.
 */
class OutcomeReports implements InvocationReport {
  readonly #taskId: number
  readonly #count: number
  readonly #tracked: boolean
  readonly #done: () => void
  #reported = 0
  readonly #ok: Float64Array
  #okFrom = 0
  #okTo = 0
  #results: Array<[number, Outcome | RequeueOutcome]> = []
  #blockedMs: number | undefined
  #streamed = 0
  #scheduled = false
  #finished = false

  constructor(taskId: number, count: number, tracked: boolean, done: () => void) {
    this.#taskId = taskId
    this.#count = count
    this.#tracked = tracked
    this.#done = done
    this.#ok = new Float64Array(count * 2)
  }

  ok(slot: InvocationSlot, durationMs: number): void {
    if (slot.logs) {
      this.outcome(slot, { kind: 'ok', durationMs, outputs: [] })
      return
    }
    this.#ok[this.#okTo++] = slot.index
    this.#ok[this.#okTo++] = durationMs
    this.#reported++
    this.#next()
  }

  outcome(slot: InvocationSlot, outcome: Outcome | RequeueOutcome): void {
    if (slot.logs && outcome.kind !== 'requeue') outcome.logs = slot.logs
    this.#results.push([slot.index, outcome])
    this.#reported++
    this.#next()
  }

  #next(): void {
    if (this.#tracked) untrack()
    if (this.#reported === this.#count) {
      this.#done()
      return
    }
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => this.#flush())
    }
  }

  /** Every message has started, which took `ms` of the thread's time. */
  blocked(ms: number): void {
    this.#blockedMs = ms
  }

  #take(): Outcomes {
    const ok = this.#okTo > this.#okFrom ? this.#ok.slice(this.#okFrom, this.#okTo) : null
    this.#okFrom = this.#okTo
    const results = this.#results
    this.#results = []
    const taken: Outcomes = { ok, results }
    if (this.#blockedMs !== undefined) {
      taken.blockedMs = this.#blockedMs
      this.#blockedMs = undefined
    }
    return taken
  }

  #flush(): void {
    this.#scheduled = false
    if (this.#finished || (this.#okTo === this.#okFrom && this.#results.length === 0)) return
    const taken = this.#take()
    this.#streamed += taken.results.length + (taken.ok ? taken.ok.length / 2 : 0)
    const message: OutcomeMessage = { jetfnOutcomes: true, taskId: this.#taskId, ...taken }
    parentPort!.postMessage(message)
  }

  /** What the task resolves to: the outcomes not streamed yet. */
  finish(): BatchResult {
    this.#finished = true
    return { ...this.#take(), streamed: this.#streamed }
  }
}
