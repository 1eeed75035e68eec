/**
 * Carries out settle actions on the server for one function: outputs published and confirmed
 * before the ack; acks confirmed once per group; naks with a delay; dead letters confirmed by
 * JetStream before the original is terminated.
 */
import type { JetStreamClient } from '@nats-io/jetstream'
import { headers as natsHeaders, type NatsConnection, type Subscription } from '@nats-io/transport-node'
import { connectionInbox } from '../nats/connection-inbox.ts'
import type { Logger } from 'pino'
import { guardCallback } from '../nats/guard-callback.ts'
import type { ErrorKind, WireError, WireHeaders, WireOutput } from '../pool/protocol.ts'
import { withTraceContext } from '../trace/trace-context.ts'
import type { AttemptTracing } from './attempt-tracing.ts'
import type { DeadLetterPayloads } from '../dlq/dead-letter-payloads.ts'
import { DeadLetterWriter, type StoredDeadLetter } from './dead-letter-writer.ts'
import type { Delivery } from './delivery.ts'
import { DelayedPublisher } from '../schedule/delayed-publisher.ts'
import { AckFrames } from '../nats/ack-frames.ts'

/** Waits before the 2nd and 3rd try of an output publish, ms. */
const OUTPUT_RETRY_DELAYS_MS = [250, 1_000]

const encoder = new TextEncoder()
const WPI = encoder.encode('+WPI')
const NAK = encoder.encode('-NAK')
const TERM = encoder.encode('+TERM')

/** Options of {@link Settler}. */
export interface SettlerOptions {
  nc: NatsConnection
  js: JetStreamClient
  fn: string
  log: Logger
  /** Where dead letters too big for one message keep their payload. */
  payloads: DeadLetterPayloads
  /** How long to wait for a confirmation (ack, publish), ms. Default 5 000. */
  confirmTimeoutMs?: number
  /** Set on a replay (`fn replay`): its id, put in output and dead-letter ids so they are new messages. */
  replayId?: string | undefined
  /** Set when tracing is on: outputs then carry the attempt's trace context. */
  tracing?: AttemptTracing | undefined
}

interface PendingConfirm {
  resolve: () => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class Settler {
  readonly #o: SettlerOptions
  readonly #timeout: number
  /** Where the server confirms acks: `<inbox>.<n>`, one subscription for every confirm. */
  #confirmInbox: string | undefined
  #confirmSub: Subscription | undefined
  readonly #confirms = new Map<string, PendingConfirm>()
  #nextConfirm = 1
  #closing = false
  readonly #writer: DeadLetterWriter
  #delayed: DelayedPublisher | undefined
  readonly #frames: AckFrames

  constructor(opts: SettlerOptions) {
    this.#o = opts
    this.#timeout = opts.confirmTimeoutMs ?? 5_000
    this.#frames = new AckFrames(opts.nc)
    this.#writer = new DeadLetterWriter({ nc: opts.nc, js: opts.js, payloads: opts.payloads, timeoutMs: this.#timeout })
  }

  /** Stops listening for confirmations once none is pending (the function left this replica). */
  close(): void {
    this.#closing = true
    this.#maybeUnsubscribe()
  }

  #maybeUnsubscribe(): void {
    if (!this.#closing || this.#confirms.size > 0) return
    this.#confirmSub?.unsubscribe()
    this.#confirmSub = undefined
  }

  /**
   * Acks a group of deliveries with one round trip: plain acks for all but the last, and a
   * confirmed ack for the last. The server handles the acks of one connection in the order they
   * were written, so when the last is confirmed every earlier one has been applied too. If the
   * confirmation does not come (connection lost), the whole group is acked again, a few times,
   * since an ack is idempotent; what still fails is redelivered after `ack_wait` and logged.
   */
  async ack(group: Delivery[]): Promise<void> {
    if (group.length === 0) return
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#confirmedAcks(group)
        return
      } catch (err) {
        if (attempt >= 3) {
          this.#o.log.error({ err, seqs: group.map((d) => d.seq) }, 'acks not confirmed; these messages may be redelivered')
          return
        }
        this.#o.log.warn({ err, attempt, count: group.length }, 'ack not confirmed; acking again')
      }
    }
  }

  /**
   * Acks a group, the last ack with a reply subject: the server answers once it has applied it.
   * Replies come to one subscription of this settler rather than through `nc.request()`, which
   * costs a timer, a deferred and an Error (built on every success, by its cancel) per call:
   * about 45 µs against 9 µs for a plain ack (NATS-NOTES).
   */
  #confirmedAcks(group: readonly Delivery[]): Promise<void> {
    if (!this.#confirmSub) {
      this.#confirmInbox = connectionInbox(this.#o.nc)
      this.#confirmSub = this.#o.nc.subscribe(`${this.#confirmInbox}.*`, {
        // Runs on the client's socket reader: guarded, nothing may throw there.
        callback: guardCallback(this.#o.log, 'ack confirmations', (msg) => {
          const pending = this.#confirms.get(msg.subject)
          if (!pending) return
          this.#confirms.delete(msg.subject)
          clearTimeout(pending.timer)
          pending.resolve()
          this.#maybeUnsubscribe()
        }),
      })
    }
    const subject = `${this.#confirmInbox}.${this.#nextConfirm++}`
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#confirms.delete(subject)
        this.#maybeUnsubscribe()
        reject(new Error(`ack not confirmed within ${this.#timeout} ms`))
      }, this.#timeout)
      this.#confirms.set(subject, { resolve, reject, timer })
      try {
        this.#frames.ack(group, subject)
      } catch (err) {
        clearTimeout(timer)
        this.#confirms.delete(subject)
        reject(err as Error)
      }
    })
  }

  /** Keeps the server from redelivering a message still being worked on (resets `ack_wait`). */
  working(d: Delivery): void {
    this.#publishQuietly(d.reply, WPI)
  }

  /** Hands a message back for redelivery after `delayMs` (0: at once). */
  nak(d: Delivery, delayMs: number): void {
    const payload = delayMs > 0 ? encoder.encode(`-NAK {"delay":${Math.round(delayMs) * 1_000_000}}`) : NAK
    this.#publishQuietly(d.reply, payload)
  }

  /**
   * Publishes a handler's buffered outputs, each with `Nats-Msg-Id = <fn>:<stream>:<seq>:<n>`
   * (`<fn>:<stream>:<seq>:r<replay id>:<n>` in a replay), and
   * waits until JetStream has stored every one. A redelivery within the duplicate window
   * publishes the same ids, which the stream drops. A failed publish is tried again here a few
   * times (a leader election takes a second or two) before it fails the invocation: a nak would
   * run the handler again and use up one of the message's deliveries for a fault of the cluster.
   */
  async publishOutputs(d: Delivery, outputs: WireOutput[]): Promise<void> {
    // With tracing on, each output names the attempt's span as its parent (a traceparent the
    // handler set itself is kept).
    const trace = this.#o.tracing?.outputHeaders(this.#o.fn, d)
    await Promise.all(outputs.map((out, n) => this.#publishOutput(d, out, n, trace)))
  }

  async #publishOutput(d: Delivery, out: WireOutput, n: number, trace: NonNullable<WireHeaders> | undefined): Promise<void> {
    const h = natsHeaders()
    const outHeaders = trace ? withTraceContext(out.headers, trace) : out.headers
    if (outHeaders) for (const [k, values] of outHeaders) for (const v of values) h.append(k, v)
    const run = this.#o.replayId === undefined ? '' : `r${this.#o.replayId}:`
    const opts = { msgID: `${this.#o.fn}:${d.stream}:${d.seq}:${run}${n}`, headers: h, timeout: this.#timeout }
    for (let attempt = 0; ; attempt++) {
      try {
        if (out.at !== undefined) await this.#publishDelayed(d, out, opts.msgID, h)
        else await this.#o.js.publish(out.subject, out.data, opts)
        return
      } catch (err) {
        if (attempt >= OUTPUT_RETRY_DELAYS_MS.length) throw err
        this.#o.log.warn({ err, seq: d.seq, subject: out.subject, attempt: attempt + 1 }, 'output not stored; publishing it again')
        await new Promise((resolve) => setTimeout(resolve, OUTPUT_RETRY_DELAYS_MS[attempt]))
      }
    }
  }

  /**
   * A delayed output (`delay`, `at`) stored as an `@at` schedule under the output's id, or a
   * message of a `debounce` function held as the pending run of its key.
   */
  async #publishDelayed(d: Delivery, out: WireOutput, msgId: string, headers: ReturnType<typeof natsHeaders>): Promise<void> {
    this.#delayed ??= new DelayedPublisher(this.#o.nc, this.#o.js)
    const m = { subject: out.subject, data: out.data, headers, at: out.at!, msgId, fn: this.#o.fn }
    if (out.debounceKey === undefined) await this.#delayed.publish(m)
    else await this.#delayed.debounce(m, out.debounceKey, { stream: d.stream, seq: d.seq })
  }

  /**
   * Dead-letters a message: stores the original payload with the original headers and the
   * `Fn-*` headers on `fn.dlq.<fn>` (see {@link DeadLetterWriter}), waits for JetStream to
   * confirm, and only then terminates the original. Throws when the dead letter could not be
   * stored; the original is then left unterminated, for the caller to hand back.
   */
  async deadLetter(d: Delivery, errorKind: ErrorKind, error: WireError, opts: { version: string; rawHeaders?: Uint8Array | undefined }): Promise<StoredDeadLetter> {
    const facts = {
      fn: this.#o.fn,
      version: opts.version,
      errorKind,
      error,
      deliveries: d.deliveries,
      stream: d.stream,
      seq: d.seq,
      subject: d.subject,
      failedAt: new Date(),
      original: d.headers,
      replayId: this.#o.replayId,
    }
    const stored = await this.#writer.write(facts, d.data, opts.rawHeaders)
    this.#publishQuietly(d.reply, TERM)
    return stored
  }

  #publishQuietly(subject: string, payload: Uint8Array): void {
    try {
      this.#o.nc.publish(subject, payload)
    } catch (err) {
      // Only a closed connection refuses a publish; the server redelivers after ack_wait.
      this.#o.log.warn({ err }, 'could not reach the server to settle a message')
    }
  }
}
