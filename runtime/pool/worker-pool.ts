/**
 * The one piscina pool of a replica, shared by every function. It takes batches, reports one
 * outcome per message, and turns the ways a thread can die into per-message outcomes: the handler
 * that caused it fails (`timeout` or `crash`); every other message that was on the thread is
 * handed back as `requeue`, blameless, to be run again at once. When the culprit of a crash is not
 * known, nobody is blamed and tasks run with crash tracking for a while (see BatchTask.track).
 * Its own balancer gives each batch to the thread with the fewest messages outstanding.
 */
import { Piscina, type PiscinaTask } from 'piscina'
import type { Logger } from 'pino'
import type { WorkerLogOptions } from '../log/worker-logger.ts'
import type { BatchResult, BatchTask, Outcomes, WireFunction } from './protocol.ts'
import { isOutcomeMessage } from './protocol.ts'
import { attributeFailure, type PoolOutcome } from './crash-attribution.ts'
import { DEFAULT_MAX_PAYLOAD, findOverdue, movingBlockingMs, newTaskState, toWireFunction, type DispatchFunction, type OutcomeSink, type TaskState } from './pool-task.ts'
import { pickThread, ThreadLoad } from './thread-balancer.ts'
import { LoadedVersions } from './loaded-versions.ts'
import { ShutdownBroadcast } from './shutdown-broadcast.ts'
import { piscinaOptions } from './piscina-options.ts'

export type { PoolOutcome } from './crash-attribution.ts'
export type { DispatchFunction, OutcomeSink } from './pool-task.ts'
/** A thread as piscina's load balancer sees it. */
type PiscinaWorker = Parameters<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer'] & {}>[1][number]

/** Options of {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Worker threads. */
  threads: number
  /** V8 old-generation limit of each thread, MiB; a thread past it dies and fails its message as `crash`. */
  maxOldGenerationSizeMb: number
  log: Logger
  /** How the threads log. */
  workerLog?: WorkerLogOptions
  /** The threads' `process.env`: what `pool.env` allows (see worker-env.ts). Default: empty. */
  env?: Readonly<Record<string, string>>
  /** How often running handlers are checked against their hard deadline, ms. Default 100. */
  watchdogIntervalMs?: number
  /** The server's `max_payload`, bytes: `ctx.publish` refuses a larger output at the call. Default 1 MiB. */
  maxPayload?: number
}

/** Where piscina looks for a task's queue options; the balancer finds the task's id there. */
const QUEUE_OPTIONS: typeof Piscina.queueOptionsSymbol = Piscina.queueOptionsSymbol
/** A batch names its task; a warm-up probe names the thread (by index) it must load its bundle on. */
type QueueTag = { jetfnTaskId: number } | { jetfnThread: number }

/** How long a bundle may take to load in a thread (a preload, or new threads loading it ahead), ms. */
const PRELOAD_TIMEOUT_MS = 30_000

/** How long every task runs with crash tracking (`BatchTask.track`) after a thread died without a known culprit, ms. */
const TRACK_AFTER_UNKNOWN_CRASH_MS = 60_000

/** A task of no messages: the thread that takes it loads `fn`'s bundle, and it fails if that does not load. */
function probeTask(fn: WireFunction): BatchTask {
  return { taskId: 0, fn, count: 0, buffer: new ArrayBuffer(0), subjects: [], headers: null, track: false, progress: new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT) }
}

export class WorkerPool {
  readonly threads: number
  /** The current generation of threads; older ones finish what they run, then close. */
  #piscina: Piscina
  readonly #retiring = new Set<Piscina>()
  /** The next generation while it starts and loads the live bundles, before it takes over. */
  #warming: Piscina | undefined
  readonly #versions = new LoadedVersions()
  readonly #opts: WorkerPoolOptions
  readonly #log: Logger
  readonly #tasks = new Map<number, TaskState>()
  readonly #watchdog: NodeJS.Timeout
  #nextTaskId = 1
  #pendingFailures = new Map<unknown, TaskState[]>()
  /** Threads the watchdog terminated, by threadId, until their tasks are settled. */
  readonly #killedForTimeout = new Set<number>()
  /** Tasks sent before this time (ms since the epoch) run with crash tracking. */
  #trackUntil = 0
  /** Per function: how long starting one message blocks a thread, ms (moving average). */
  readonly #blocking = new Map<string, number>()
  /** Messages given to each thread whose outcome has not come back. */
  readonly #threadLoad = new ThreadLoad()
  readonly #maxPayload: number
  /** Tells the threads the replica is stopping: running handlers' `ctx.signal` aborts (shutdown-broadcast.ts). */
  readonly shutdown = new ShutdownBroadcast()

  constructor(opts: WorkerPoolOptions) {
    this.threads = opts.threads
    this.#maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD
    this.#log = opts.log
    this.#opts = opts
    this.#piscina = this.#newPiscina()
    this.#watchdog = setInterval(() => this.#checkDeadlines(), opts.watchdogIntervalMs ?? 100)
    this.#watchdog.unref()
  }

  #newPiscina(): Piscina {
    const piscina = new Piscina(piscinaOptions(this.#opts, this.shutdown.name, (task, workers) => this.#balance(task, workers)))
    piscina.on('message', (message: unknown) => {
      if (!isOutcomeMessage(message)) return
      const task = this.#tasks.get(message.taskId)
      if (!task) return
      task.streamedReceived += this.#deliverAll(task, message)
      this.#maybeFinish(message.taskId, task)
    })
    piscina.on('error', (err: unknown) => this.#log.error({ err }, 'worker pool error'))
    return piscina
  }

  /**
   * Once enough retired versions are loaded: a new generation of threads starts, and loads every
   * function's latest bundle on each of its threads while the current threads go on serving (a
   * deploy never waits for it: starting a thread takes a few hundred ms, and the redeploy that
   * triggered a recycle took 0.6-1 s to its first message). Then new batches go to the new
   * threads; the old ones finish what they run, exit, and drop their modules.
   */
  #recycleIfDue(): void {
    if (this.#warming || !this.#versions.shouldRecycle) return
    const retired = this.#versions.retired
    const next = this.#newPiscina()
    this.#warming = next
    const bundles = this.#versions.latest().map(([, bundlePath]) => bundlePath)
    const probes: Promise<unknown>[] = []
    for (let thread = 0; thread < this.threads; thread++) {
      for (const bundlePath of bundles) {
        const probe = { ...probeTask({ name: '', version: '', stream: '', bundlePath, decode: 'json', timeoutMs: 0 }), [QUEUE_OPTIONS]: { jetfnThread: thread } satisfies QueueTag }
        probes.push(next.run(probe))
      }
    }
    // A bundle still loading after the preload's own limit does not hold the switch back.
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), PRELOAD_TIMEOUT_MS)
      timer.unref()
    })
    void Promise.race([Promise.allSettled(probes), late]).then((results) => {
      clearTimeout(timer)
      // Closed meanwhile (the replica stopping): its probes were refused, nothing to report.
      if (this.#warming !== next) return
      this.#warming = undefined
      if (results === 'late') {
        this.#log.warn({ bundles: bundles.length, timeoutMs: PRELOAD_TIMEOUT_MS }, 'new worker threads still loading bundles: switching to them anyway')
      } else {
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
        // A bundle that loaded before and not now is reported by its next batch (`unloadable`).
        if (failed.length > 0) this.#log.warn({ err: failed[0]!.reason, failed: failed.length, bundles: bundles.length }, 'new worker threads could not load every bundle ahead')
      }
      this.#switchTo(next)
      this.#log.info({ retired, bundles: bundles.length }, 'worker threads recycled: retired function versions are dropped')
    })
  }

  /** New batches go to `next`; the current threads finish what they run, then close. */
  #switchTo(next: Piscina): void {
    const old = this.#piscina
    this.#piscina = next
    // The new threads have each function's latest bundle: loaded ahead, or (deployed while they
    // started) at its first batch there.
    const live = this.#versions.latest()
    this.#versions.reset()
    for (const [fn, bundlePath] of live) this.#versions.loaded(fn, bundlePath)
    this.#retiring.add(old)
    old.close().then(
      () => this.#retiring.delete(old),
      (err: unknown) => this.#log.warn({ err }, 'retired worker threads did not close cleanly'),
    )
  }

  /** Messages handed to the pool whose outcome has not been reported yet. */
  get inFlight(): number {
    let n = 0
    for (const task of this.#tasks.values()) n += task.size - task.deliveredCount
    return n
  }

  /** Threads with no message outstanding. */
  get idleThreads(): number {
    return this.#threadLoad.idle(this.#piscina.threads)
  }

  /** How long starting one message of a function blocks its thread, ms, so far (its handler's synchronous part plus decoding); undefined before its first batch. */
  blockingMs(fn: string): number | undefined {
    return this.#blocking.get(fn)
  }

  /** Threads running at least one batch (a thread still starting up counts as busy). */
  get busyThreads(): number {
    return Math.max(0, this.#piscina.threads.length - this.#piscina.idleThreads)
  }

  /**
   * Runs a batch of one function, encoded by `encodeBatch`; its buffer is transferred to the
   * thread. `sink` gets one outcome per message, in completion order.
   */
  dispatch(fn: DispatchFunction, batch: Pick<BatchTask, 'count' | 'buffer' | 'subjects' | 'headers' | 'slots'> & { keys?: boolean }, sink: OutcomeSink): void {
    this.#versions.loaded(fn.name, fn.bundlePath)
    const taskId = this.#nextTaskId++
    const size = batch.count
    // One slot per message, plus one where the worker writes its threadId (see Progress).
    const progress = new SharedArrayBuffer((size + 1) * Float64Array.BYTES_PER_ELEMENT)
    const task = newTaskState(fn, size, new Float64Array(progress), Date.now() < this.#trackUntil, sink)
    this.#tasks.set(taskId, task)
    const wireFn = toWireFunction(fn, this.#maxPayload)
    const body: BatchTask & { [QUEUE_OPTIONS]?: QueueTag } = { taskId, fn: wireFn, count: size, buffer: batch.buffer, subjects: batch.subjects, headers: batch.headers, track: task.tracked, progress, ...(batch.keys ? { keys: true } : {}), ...(batch.slots !== undefined && batch.slots < size ? { slots: batch.slots } : {}) }
    // Read by the balancer (piscina hands it the task's queue options); structured clone skips it.
    body[QUEUE_OPTIONS] = { jetfnTaskId: taskId }
    // No abort signal: piscina's balancer gives an abortable task a thread of its own and puts
    // nothing else on that thread meanwhile, which serialises async handlers (measured: it cut
    // drain throughput several-fold). The watchdog terminates threads itself instead.
    this.#piscina.run(body, { transferList: [batch.buffer] }).then(
      (result: BatchResult) => {
        this.#deliverAll(task, result)
        task.awaitingStreamed = result.streamed
        this.#maybeFinish(taskId, task)
      },
      (err: unknown) => this.#onTaskFailed(taskId, task, err),
    )
  }

  /**
   * Imports a function bundle in a worker thread and resolves once it loaded, or rejects with the
   * reason it did not: a new version is routed to only after this succeeds.
   */
  async preload(fn: DispatchFunction): Promise<void> {
    this.#versions.loaded(fn.name, fn.bundlePath)
    this.#recycleIfDue()
    const probe = probeTask(toWireFunction(fn, this.#maxPayload))
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the bundle did not finish loading within ${PRELOAD_TIMEOUT_MS / 1000} s`)), PRELOAD_TIMEOUT_MS)
    })
    try {
      await Promise.race([this.#piscina.run(probe), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Picks the thread with the fewest messages outstanding (see thread-balancer.ts) and counts the
   * task's on it; a warm-up probe goes to the thread it names.
   */
  #balance(info: PiscinaTask, workers: PiscinaWorker[]): PiscinaWorker | null {
    const tag = (info as unknown as Record<symbol, QueueTag | null | undefined>)[QUEUE_OPTIONS]
    if (tag && 'jetfnThread' in tag) {
      const thread = workers[tag.jetfnThread % Math.max(1, workers.length)]
      if (thread && !thread.terminating && !thread.destroyed) return thread
    }
    const task = tag && 'jetfnTaskId' in tag ? this.#tasks.get(tag.jetfnTaskId) : undefined
    const best = pickThread(workers, (id) => this.#threadLoad.of(id))
    if (best && task) {
      task.threadId = best.id
      this.#threadLoad.add(best.id, task.size - task.deliveredCount)
    }
    return best
  }

  /** Delivers a worker's report; returns how many outcomes it held. */
  #deliverAll(task: TaskState, outcomes: Outcomes): number {
    if (outcomes.blockedMs !== undefined && task.size > 0) {
      this.#blocking.set(task.fn.name, movingBlockingMs(this.#blocking.get(task.fn.name), outcomes.blockedMs / task.size))
    }
    const ok = outcomes.ok
    if (ok) {
      for (let i = 0; i < ok.length; i += 2) {
        if (!this.#mark(task, ok[i]!)) continue
        try {
          task.sink.ok(ok[i]!, ok[i + 1]!)
        } catch (err) {
          this.#log.error({ err, fn: task.fn.name }, 'outcome handler failed')
        }
      }
    }
    for (const [index, outcome] of outcomes.results) this.#deliver(task, index, outcome)
    return outcomes.results.length + (ok ? ok.length / 2 : 0)
  }

  #deliver(task: TaskState, index: number, outcome: PoolOutcome): void {
    if (!this.#mark(task, index)) return
    try {
      task.sink.outcome(index, outcome)
    } catch (err) {
      this.#log.error({ err, fn: task.fn.name }, 'outcome handler failed')
    }
  }

  /** Counts message `index` of a task as reported; false if it already was. */
  #mark(task: TaskState, index: number): boolean {
    if (task.delivered[index] === 1) return false
    task.delivered[index] = 1
    task.deliveredCount++
    if (task.threadId !== 0) this.#threadLoad.done(task.threadId)
    return true
  }

  #maybeFinish(taskId: number, task: TaskState): void {
    if (task.awaitingStreamed >= 0 && task.streamedReceived >= task.awaitingStreamed) this.#tasks.delete(taskId)
  }

  #checkDeadlines(): void {
    for (const task of findOverdue(this.#tasks.values(), Date.now())) {
      const threadId = task.progress[task.size]!
      const worker = this.#generations().flatMap((p) => p.threads).find((w) => w.threadId === threadId)
      if (!worker) continue
      this.#log.warn(
        { fn: task.fn.name, version: task.fn.version, timeoutMs: task.fn.timeoutMs, graceMs: task.fn.timeoutGraceMs, threadId },
        'handler ignored its timeout past the grace: terminating its worker thread',
      )
      task.terminating = true
      this.#killedForTimeout.add(threadId)
      // piscina sees the thread exit, rejects its tasks with one shared error, and replaces it.
      void worker.terminate()
    }
  }

  #onTaskFailed(taskId: number, task: TaskState, err: unknown): void {
    // Every task of a thread that died by itself is rejected with the same error object, in one
    // synchronous loop: gather them for a turn so that a culprit found in one clears the others.
    const group = this.#pendingFailures.get(err)
    if (group) {
      group.push(task)
    } else {
      this.#pendingFailures.set(err, [task])
      setImmediate(() => {
        const tasks = this.#pendingFailures.get(err) ?? []
        this.#pendingFailures.delete(err)
        this.#settleFailedTasks(tasks, err)
      })
    }
    this.#tasks.delete(taskId)
  }

  #settleFailedTasks(tasks: TaskState[], err: unknown): void {
    const threadId = tasks[0]?.progress[tasks[0].size]
    const killedForTimeout = threadId !== undefined && this.#killedForTimeout.delete(threadId)
    const verdict = attributeFailure(tasks, err, killedForTimeout)
    const fns = [...new Set(tasks.map((t) => t.fn.name))]
    if (verdict.startTracking) {
      this.#trackUntil = Date.now() + TRACK_AFTER_UNKNOWN_CRASH_MS
      this.#log.error(
        { err, fns, trackMs: TRACK_AFTER_UNKNOWN_CRASH_MS },
        'worker thread died, cause not pinned on a handler yet: its messages run again with crash tracking; the pool replaces the thread',
      )
    } else if (verdict.crashed) {
      this.#log.error({ err, fns }, 'worker thread died; the pool replaces it')
    }
    for (const task of tasks) this.#settleRest(task, (i) => verdict.outcomeOf(task, i))
  }

  #settleRest(task: TaskState, outcomeOf: (index: number) => PoolOutcome): void {
    for (let i = 0; i < task.size; i++) if (task.delivered[i] === 0) this.#deliver(task, i, outcomeOf(i))
  }

  /** Every generation of threads: the current one, those retiring, and the next one while it starts. */
  #generations(): Piscina[] {
    return [this.#piscina, ...this.#retiring, ...(this.#warming ? [this.#warming] : [])]
  }

  /** Lets running tasks finish, then stops the threads. */
  async close(): Promise<void> {
    clearInterval(this.#watchdog)
    const all = this.#generations()
    this.#warming = undefined
    await Promise.all(all.map((p) => p.close()))
  }

  /** Stops the threads now; unfinished messages are reported as `requeue`. */
  async destroy(): Promise<void> {
    clearInterval(this.#watchdog)
    const all = this.#generations()
    this.#warming = undefined
    await Promise.all(all.map((p) => p.destroy()))
  }
}
