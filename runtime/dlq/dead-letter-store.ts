/**
 * One function's dead letters in the DLQ stream (subject `fn.dlq.<function>`): count, read one,
 * walk them all in order without holding them in memory, delete and purge. A DLQ stream that does
 * not exist yet (no replica has run) holds no dead letters.
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg, type MsgRequest } from '@nats-io/jetstream'
import { isNotFound } from '../nats/ensure-stream.ts'
import { deadLetterSubject } from '../settle/dead-letter.ts'
import { toDeadLetterEntry, type DeadLetterEntry } from './dead-letter-entry.ts'

/** Options of {@link DeadLetterStore.entries}. */
export interface EntriesOptions {
  /** Read headers only (the payload is left on the server; `size` still says how big it is). Default false. */
  headersOnly?: boolean
  /**
   * Stop after this DLQ sequence. Default: the function's last dead letter when the walk starts,
   * so that dead letters added during the walk (a replay that fails again) are not visited.
   */
  upToSeq?: number
}

// Messages an ordered consumer hands over per pull: bounds what a walk holds in memory.
const BATCH = 256
// A pull that finds nothing within this long means the walk has seen everything there is.
const IDLE_EXPIRES_MS = 2_000

export class DeadLetterStore {
  readonly #jsm: JetStreamManager
  readonly #js: JetStreamClient
  /** The DLQ stream (`dlq.stream` of `fn.config.ts`). */
  readonly stream: string
  /** The function whose dead letters these are. */
  readonly fn: string
  /** `fn.dlq.<function>`. */
  readonly subject: string

  constructor(opts: { jsm: JetStreamManager; js: JetStreamClient; stream: string; fn: string }) {
    this.#jsm = opts.jsm
    this.#js = opts.js
    this.stream = opts.stream
    this.fn = opts.fn
    this.subject = deadLetterSubject(opts.fn)
  }

  /** How many dead letters the function has. */
  async count(): Promise<number> {
    try {
      const info = await this.#jsm.streams.info(this.stream, { subjects_filter: this.subject })
      return info.state.subjects?.[this.subject] ?? 0
    } catch (err) {
      if (isNotFound(err)) return 0
      throw err
    }
  }

  /** The DLQ sequence of the function's newest dead letter; undefined when it has none. */
  async lastSeq(): Promise<number | undefined> {
    const m = await this.#getMessage({ last_by_subj: this.subject })
    return m?.seq
  }

  /** The dead letter stored at `seq`, or undefined when `seq` is not one of this function's. */
  async get(seq: number): Promise<DeadLetterEntry | undefined> {
    const m = await this.#getMessage({ seq })
    if (!m || m.subject !== this.subject) return undefined
    return toDeadLetterEntry({ seq: m.seq, subject: m.subject, time: m.time, headers: m.header, data: m.data })
  }

  /**
   * The function's dead letters, oldest first, read through an ordered consumer filtered on its
   * subject: one pull per batch, never more than a batch in memory.
   */
  async *entries(opts: EntriesOptions = {}): AsyncGenerator<DeadLetterEntry> {
    const upTo = opts.upToSeq ?? (await this.lastSeq())
    if (upTo === undefined) return
    const consumer = await this.#js.consumers.get(this.stream, {
      filter_subjects: this.subject,
      deliver_policy: DeliverPolicy.All,
      headers_only: opts.headersOnly ?? false,
    })
    try {
      for (;;) {
        const batch = await consumer.fetch({ max_messages: BATCH, expires: IDLE_EXPIRES_MS })
        let got = 0
        let done = false
        try {
          for await (const m of batch) {
            got++
            if (m.seq > upTo) {
              done = true
              break
            }
            yield fromJsMsg(m)
            // `pending` counts what the consumer has left to deliver after this message.
            if (m.seq === upTo || m.info.pending === 0) {
              done = true
              break
            }
          }
        } finally {
          batch.stop()
        }
        // An empty pull: what is left up to `upTo` was deleted while walking.
        if (done || got === 0) return
      }
    } finally {
      await consumer.delete().catch(() => {
        // An ordered consumer is ephemeral: the server removes it once idle anyway.
        return false
      })
    }
  }

  /** Deletes one dead letter; false when it was already gone. */
  async delete(seq: number): Promise<boolean> {
    try {
      return await this.#jsm.streams.deleteMessage(this.stream, seq)
    } catch (err) {
      if (isNoMessage(err)) return false
      throw err
    }
  }

  /** Deletes every dead letter of the function; returns how many there were. */
  async purge(): Promise<number> {
    try {
      return (await this.#jsm.streams.purge(this.stream, { filter: this.subject })).purged
    } catch (err) {
      if (isNotFound(err)) return 0
      throw err
    }
  }

  async #getMessage(query: Record<string, unknown>) {
    try {
      // The server takes `last_by_subj` and `seq` alone; nats.js types them only in a union.
      return await this.#jsm.streams.getMessage(this.stream, query as MsgRequest)
    } catch (err) {
      if (isNotFound(err)) return null
      throw err
    }
  }
}

function fromJsMsg(m: JsMsg): DeadLetterEntry {
  return toDeadLetterEntry({ seq: m.seq, subject: m.subject, time: m.time, headers: m.headers, data: m.data })
}

// JetStream answers a delete of a sequence it does not hold with "no message found" (10057).
function isNoMessage(err: unknown): boolean {
  const code = (err as { apiError?: () => { err_code?: number } }).apiError?.()?.err_code
  return code === 10057 || /no message found/i.test(String((err as Error)?.message ?? ''))
}
