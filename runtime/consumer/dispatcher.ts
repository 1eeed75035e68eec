/**
 * The queue of one function's messages waiting for a slot, and their dispatch to the shared pool
 * in batches (cut by `planDispatch`), once per event-loop turn: everything read from the socket in
 * one turn goes out together. Each message's outcome goes back to the consumer.
 *
 * A slot of the function's `concurrency` is a handler that may be running. A batch takes some
 * slots and may carry more messages than it has slots (a fast function's, see `fillBatches`):
 * those wait in the worker and start as the batch's earlier handlers end. A batch holds
 * `min(slots, messages not reported yet)` slots, so a slot comes back only once fewer of its
 * messages are unreported than it has slots: the worker never runs more than that at once.
 */
import type { RunnableFunction } from '../function/runnable-function.ts'
import type { PoolOutcome, WorkerPool } from '../pool/worker-pool.ts'
import { encodeBatch } from './encode-batch.ts'
import { batchCap, FILL_MAX_MS, fillBatches, planDispatch, type FunctionPace } from './flow-plan.ts'
import type { Held } from './held-message.ts'
import type { KeyedQueue } from './keyed-queue.ts'
import type { RateGate } from './rate-gate.ts'

/** Options of {@link Dispatcher}. */
export interface DispatcherOptions {
  pool: WorkerPool
  /** The function as it is now (its concurrency bounds what runs). */
  fn: () => RunnableFunction
  /** Whether dispatching is allowed now (the consumer is running). */
  running: () => boolean
  /** The function's rate limit in this replica, when it has one: runs start only with its tokens. */
  gate?: () => RateGate | undefined
  /** Largest batch handed to one thread. */
  maxBatch?: number | undefined
  /** The function's measured pace; batches carry waiting messages beyond their slots only for a fast one. */
  pace?: () => FunctionPace | undefined
  /** A message's handler succeeded without outputs or log lines. */
  ok(d: Held, fn: RunnableFunction, durationMs: number): void
  /** Any other outcome of a message. */
  outcome(d: Held, fn: RunnableFunction, outcome: PoolOutcome): void
}

export class Dispatcher {
  readonly #o: DispatcherOptions
  #queue: Held[] = []
  #keyed: KeyedQueue<Held> | undefined
  #running = 0
  #scheduled = false

  constructor(opts: DispatcherOptions) {
    this.#o = opts
  }

  /** Messages waiting for a slot (or, keyed, for their key). */
  get queued(): number {
    return this.#queue.length + (this.#keyed?.size ?? 0)
  }

  /**
   * Queues by key from now on (a keyed function), or in arrival order (`undefined`). What waits
   * is moved over; a message needs its `key` before it is queued by key.
   */
  useKeyed(queue: KeyedQueue<Held> | undefined): void {
    if (queue === this.#keyed) return
    const waiting = [...this.#queue, ...(this.#keyed?.takeWaiting() ?? [])]
    this.#queue = []
    this.#keyed = queue
    for (const d of waiting) this.push(d)
  }

  /** Queues a message at the back (new) or the front (handed back without blame). */
  push(d: Held, front = false): void {
    if (this.#keyed) {
      if (d.started) this.#keyed.settled(d, 'done')
      this.#keyed.push(d)
    } else if (front) this.#queue.unshift(d)
    else this.#queue.push(d)
    this.schedule()
  }

  /** Empties the queue, returning what waited (to hand back). */
  takeQueued(): Held[] {
    const queued = this.#queue
    this.#queue = []
    if (this.#keyed) queued.push(...this.#keyed.takeWaiting())
    return queued
  }

  /** Dispatches what it can at the end of this turn. */
  schedule(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      this.#dispatch()
    })
  }

  #dispatch(): void {
    if (!this.#o.running()) return
    const { pool } = this.#o
    const fn = this.#o.fn()
    let free = fn.concurrency - this.#running
    const keyed = this.#keyed
    const queued = keyed ? (free > 0 ? keyed.ready(free) : 0) : this.#queue.length
    const gate = this.#o.gate?.()
    const claimed = gate && free > 0 && queued > 0 ? gate.claim(Math.min(free, queued)) : 0
    if (gate) free = claimed
    const plan = planDispatch({
      free,
      queued,
      running: this.#running,
      blockingMs: pool.blockingMs(fn.name),
      threads: pool.threads,
      idleThreads: pool.idleThreads,
      ...(this.#o.maxBatch ? { maxBatch: this.#o.maxBatch } : {}),
    })
    // A fast function's batches also carry what waits beyond the free slots (not keyed or rate
    // limited ones: their queue decides what may start, message by message).
    let planned = plan.map((slots) => ({ count: slots, slots }))
    const blockingMs = pool.blockingMs(fn.name)
    const pace = this.#o.pace?.()
    if (!keyed && !gate && blockingMs !== undefined && pace !== undefined && pace.meanMs <= FILL_MAX_MS && plan.length > 0) {
      const slotted = plan.reduce((a, b) => a + b, 0)
      planned = fillBatches(plan, this.#queue.length - slotted, batchCap(blockingMs, this.#o.maxBatch))
    }
    let sent = 0
    for (const { count, slots } of planned) {
      const batch = keyed ? keyed.take(count) : this.#queue.splice(0, count)
      const held = Math.min(slots, batch.length)
      this.#running += held
      sent += held
      this.#send(fn, batch, held)
    }
    if (gate && claimed > sent) gate.unclaim(claimed - sent)
  }

  #send(fn: RunnableFunction, batch: Held[], slots: number): void {
    const encoded = encodeBatch(batch)
    // Unreported messages of the batch; while more than `slots`, an outcome frees no slot.
    let unreported = batch.length
    const done = (): void => {
      if (--unreported < slots) this.#running--
      this.schedule()
    }
    // A RunnableFunction is a DispatchFunction; the pool copies only what the worker needs.
    this.#o.pool.dispatch(fn, slots < batch.length ? { ...encoded, slots } : encoded, {
      ok: (index, durationMs) => {
        done()
        this.#o.ok(batch[index]!, fn, durationMs)
      },
      outcome: (index, outcome) => {
        done()
        this.#o.outcome(batch[index]!, fn, outcome)
      },
    })
  }
}
