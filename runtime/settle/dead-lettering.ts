/**
 * Dead-letters the messages of one function, and keeps a message whose dead letter cannot be
 * stored (the DLQ stream missing, full or not permitted, a payload store refused): it is never
 * terminated, but nak'd with a backoff capped at 30 s; its failure is remembered for its next
 * delivery; and the problem is reported (`/readyz`, a metric, a warning) until a dead letter is
 * stored again.
 */
import type { Logger } from 'pino'
import { DEAD_LETTER_NOT_STORED } from '../observe/invocation-event.ts'
import type { ErrorKind, WireError } from '../pool/protocol.ts'
import { deadLetterRetryDelayMs, type RetryPolicy } from './backoff.ts'
import type { Delivery } from './delivery.ts'
import type { Settler } from './settler.ts'

/** Messages waiting for the DLQ whose failure one function remembers, at most. */
const MAX_REMEMBERED = 10_000

/** The last failure of a message whose dead letter could not be stored, kept for its next delivery. */
export interface BlockedFailure {
  errorKind: ErrorKind
  error: WireError
  version: string
}

/** Options of {@link DeadLettering}. */
export interface DeadLetteringOptions {
  settler: Settler
  log: () => Logger
  retry: () => RetryPolicy
  /** Told when a dead letter cannot be stored (`reason`) and when one is stored again (undefined). */
  onProblem?: ((reason: string | undefined) => void) | undefined
  /** A message was dead-lettered, or kept because its dead letter was refused. */
  settled(d: Delivery, outcome: 'dead-lettered' | 'retried', errorKind: ErrorKind, error: WireError, delayMs?: number): void
}

export class DeadLettering {
  readonly #o: DeadLetteringOptions
  /** By stream sequence. */
  readonly #blocked = new Map<number, BlockedFailure>()
  #problem: string | undefined

  constructor(opts: DeadLetteringOptions) {
    this.#o = opts
  }

  /** Why the last dead letter could not be stored; undefined once one is stored again. */
  get problem(): string | undefined {
    return this.#problem
  }

  /** The failure a redelivered message had when its dead letter was refused. */
  blocked(seq: number): BlockedFailure | undefined {
    return this.#blocked.get(seq)
  }

  /** Stores `d`'s dead letter and terminates it, or keeps it (see the module). Never throws. */
  async deadLetter(d: Delivery, errorKind: ErrorKind, error: WireError, version: string, rawHeaders?: Uint8Array): Promise<void> {
    try {
      await this.#o.settler.deadLetter(d, errorKind, error, { version, rawHeaders })
      this.#blocked.delete(d.seq)
      if (this.#problem !== undefined) {
        this.#problem = undefined
        this.#o.log().info('dead letters are stored again')
        this.#o.onProblem?.(undefined)
      }
      this.#o.log().warn({ seq: d.seq, deliveries: d.deliveries, errorKind, error: `${error.name}: ${error.message}` }, 'message dead-lettered')
      this.#o.settled(d, 'dead-lettered', errorKind, error)
    } catch (err) {
      const reason = (err as Error).message
      const delayMs = deadLetterRetryDelayMs(d.deliveries, this.#o.retry())
      if (this.#blocked.size >= MAX_REMEMBERED) this.#blocked.delete(this.#blocked.keys().next().value!)
      this.#blocked.set(d.seq, { errorKind, error, version })
      this.#problem = reason
      this.#o.log().warn({ err, seq: d.seq, deliveries: d.deliveries, errorKind, delayMs }, 'dead letter not stored; the message is kept and tried again')
      this.#o.onProblem?.(reason)
      this.#o.settler.nak(d, delayMs)
      this.#o.settled(d, 'retried', errorKind, { name: DEAD_LETTER_NOT_STORED, message: `dead letter not stored: ${reason}` }, delayMs)
    }
  }
}
