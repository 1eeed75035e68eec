/**
 * The piscina worker entry. Each task is a batch of messages of one function: the worker imports
 * the function's bundle once per version, starts every message of the batch, and reports each
 * outcome as soon as it is known (streamed to the main thread once per event-loop turn), so that
 * one slow message never holds back the settling of the others.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { AsyncLocalStorage } from 'node:async_hooks'
import type { BatchResult, BatchTask, Outcome, OutcomeMessage } from './protocol.ts'
import { Progress } from './protocol.ts'
import { loadFunctionModule } from './load-function-module.ts'
import { invoke, type InvocationSlot } from './invoke.ts'
import { toWireError } from './wire-error.ts'
import { createWorkerLogger, type WorkerLogOptions } from '../log/worker-logger.ts'

// Which invocation is running, so that a process.exit() or an uncaught throw from a timer can be
// pinned on the one handler that caused it instead of on every message sharing this thread, and
// so that each ctx.log line goes back with its invocation's outcome (to `fn.logs.<fn>`).
const current = new AsyncLocalStorage<InvocationSlot>()

const log = createWorkerLogger((workerData ?? {}) as WorkerLogOptions, (line) => {
  const slot = current.getStore()
  if (slot) (slot.logs ??= []).push(line.endsWith('\n') ? line.slice(0, -1) : line)
})

function markCulprit(): void {
  const slot = current.getStore()
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
  progress[task.messages.length] = threadId
  const payload = new Uint8Array(task.payload)
  const fn = await loadFunctionModule(task.fn.bundlePath).then(
    (definition) => ({ ok: true as const, definition }),
    (err: unknown) => ({ ok: false as const, err }),
  )
  if (!fn.ok) {
    // A probe (no messages) reports the failure itself: the version must not be switched to.
    if (task.messages.length === 0) throw fn.err
    const outcome: Outcome = { kind: 'unloadable', error: toWireError(fn.err) }
    for (let i = 0; i < task.messages.length; i++) progress[i] = Progress.Done
    return { results: task.messages.map((_, i) => [i, outcome]), streamed: 0 }
  }

  let pending: Array<[number, Outcome]> = []
  let streamed = 0
  let flushScheduled = false
  let finished = false
  const flush = (): void => {
    flushScheduled = false
    if (finished || pending.length === 0) return
    const message: OutcomeMessage = { jetfnOutcomes: true, taskId: task.taskId, results: pending }
    streamed += pending.length
    pending = []
    parentPort!.postMessage(message)
  }

  const runs = task.messages.map((message, index) => {
    const slot: InvocationSlot = { progress, index }
    return current.run(slot, () => invoke(fn.definition, task.fn, message, payload, slot, log)).then((outcome) => {
      if (slot.logs) outcome.logs = slot.logs
      pending.push([index, outcome])
      if (!flushScheduled) {
        flushScheduled = true
        setImmediate(flush)
      }
    })
  })
  await Promise.all(runs)
  finished = true
  return { results: pending, streamed }
}
