/**
 * Keys computed by a function's key function (`key: (event) => …`), which runs in the pool's
 * threads like the handler: messages are sent there in batches, once per event-loop turn, and come
 * out keyed in the order they arrived, so that a message is never queued by key before an earlier
 * one whose key is still being computed (that one could share its key and must run first).
 */
import type { RunnableFunction } from '../function/runnable-function.ts'
import type { PoolOutcome, WorkerPool } from '../pool/worker-pool.ts'
import { encodeBatch } from './encode-batch.ts'
import type { Held } from './held-message.ts'

/** Options of {@link KeyingStage}. */
export interface KeyingStageOptions {
  pool: WorkerPool
  fn: () => RunnableFunction
  /** A message with its key set, in arrival order. */
  keyed: (d: Held) => void
  /** A message whose key could not be computed: dead-lettered (`dead`) or handed back (anything else). */
  failed: (d: Held, outcome: PoolOutcome) => void
}

interface Entry {
  d: Held
  done: boolean
  failed?: PoolOutcome
}

/** Most messages sent for keys in one batch. */
const MAX_BATCH = 256

export class KeyingStage {
  readonly #o: KeyingStageOptions
  /** Messages in arrival order; each is done once its key is known or it failed. */
  readonly #order: Entry[] = []
  #pending: Entry[] = []
  #scheduled = false

  constructor(opts: KeyingStageOptions) {
    this.#o = opts
  }

  /** Messages being keyed. */
  get size(): number {
    return this.#order.length
  }

  push(d: Held): void {
    const e: Entry = { d, done: false }
    this.#order.push(e)
    this.#pending.push(e)
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      this.#send()
    })
  }

  #send(): void {
    const fn = this.#o.fn()
    while (this.#pending.length > 0) {
      const entries = this.#pending.splice(0, MAX_BATCH)
      this.#o.pool.dispatch(fn, { ...encodeBatch(entries.map((e) => e.d)), keys: true }, {
        ok: () => undefined,
        outcome: (index, outcome) => {
          const e = entries[index]!
          if (outcome.kind === 'ok' && outcome.key !== undefined) e.d.key = outcome.key
          else e.failed = outcome
          e.done = true
          this.#release()
        },
      })
    }
  }

  /** Hands on every message at the head whose key is known, in arrival order. */
  #release(): void {
    while (this.#order.length > 0 && this.#order[0]!.done) {
      const e = this.#order.shift()!
      if (e.failed) this.#o.failed(e.d, e.failed)
      else this.#o.keyed(e.d)
    }
  }
}
