/**
 * The relay: every replica pulls the shared consumer `fn_delayed` on `FN_SCHEDULES` and publishes
 * each due delayed message (what an `@at` schedule produced on `fn.delayed.<token>`) to its real
 * subject (`Fn-Target`), under the output's own `Nats-Msg-Id` (`Fn-Msg-Id`), then acks it (the
 * work queue drops it). A relay that dies between the publish and the ack leaves the message to
 * another replica after the ack wait, whose publish the target stream drops as a duplicate within
 * its duplicate window. A publish that fails is tried again with a growing delay, never dropped.
 */
import { headers as natsHeaders } from '@nats-io/transport-node'
import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { isNotFound } from '../nats/ensure-stream.ts'
import { RELAY_CONSUMER, SCHEDULES_STREAM, ScheduleHeaders } from './schedule-subjects.ts'

/** Headers that steered the schedule, not part of the message delivered. */
const DROPPED = /^(nats-.*|fn-target|fn-msg-id|fn-function|fn-debounce-key|fn-source-seq)$/i
/** How often a replica looks again for a relay consumer that is not there (bind-only, before `fn deploy`), ms. */
const RETRY_MS = 5_000
/** Longest wait before a failed publish is tried again, ms. */
const MAX_BACKOFF_MS = 60_000

export class DelayedRelay {
  readonly #js: JetStreamClient
  readonly #log: Logger
  #messages: ConsumerMessages | undefined
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #missingLogged = false
  readonly #inFlight = new Set<Promise<void>>()

  constructor(opts: { js: JetStreamClient; log: Logger }) {
    this.#js = opts.js
    this.#log = opts.log.child({ component: 'delayed-relay' })
  }

  /** Starts pulling; a consumer not there yet is looked for again every few seconds. */
  start(): void {
    void this.#open().catch((err: unknown) => this.#log.error({ err }, 'delayed relay failed to start'))
  }

  async #open(): Promise<void> {
    if (this.#stopped) return
    let consumer
    try {
      consumer = await this.#js.consumers.get(SCHEDULES_STREAM, RELAY_CONSUMER)
    } catch (err) {
      if (!isNotFound(err)) this.#log.warn({ err }, 'delayed relay cannot read its consumer: trying again')
      else if (!this.#missingLogged) {
        this.#missingLogged = true
        this.#log.warn({ stream: SCHEDULES_STREAM, consumer: RELAY_CONSUMER }, 'no relay consumer for delayed messages yet: `fn deploy` creates it; looking again every few seconds')
      }
      this.#timer = setTimeout(() => void this.#open().catch((e: unknown) => this.#log.error({ err: e }, 'delayed relay failed to start')), RETRY_MS)
      this.#timer.unref()
      return
    }
    if (this.#stopped) return
    this.#messages = await consumer.consume({
      max_messages: 64,
      // Runs on the client's socket reader: #forward catches everything.
      callback: (m) => {
        const p = this.#forward(m)
        this.#inFlight.add(p)
        void p.finally(() => this.#inFlight.delete(p))
      },
    })
    this.#log.info({ consumer: RELAY_CONSUMER }, 'delayed relay running')
  }

  async #forward(m: JsMsg): Promise<void> {
    let target: string | undefined
    let msgId: string | undefined
    const h = natsHeaders()
    try {
      target = m.headers?.get(ScheduleHeaders.Target) || undefined
      msgId = m.headers?.get(ScheduleHeaders.MsgId) || undefined
      for (const key of m.headers?.keys() ?? []) {
        if (DROPPED.test(key)) continue
        for (const v of m.headers!.values(key)) h.append(key, v)
      }
    } catch (err) {
      // Undecodable headers: jetfn wrote none such, so this is not ours to deliver.
      this.#log.error({ err, seq: m.seq }, 'delayed message with unreadable headers: removed')
      m.term()
      return
    }
    if (!target) {
      this.#log.error({ seq: m.seq, subject: m.subject }, 'delayed message without Fn-Target: removed')
      m.term()
      return
    }
    try {
      await this.#js.publish(target, m.data, { headers: h, ...(msgId ? { msgID: msgId } : {}) })
      m.ack()
    } catch (err) {
      const delayMs = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** Math.min(6, m.info.deliveryCount - 1))
      this.#log.warn({ err, subject: target, deliveries: m.info.deliveryCount, delayMs }, 'delayed message not delivered: trying again')
      m.nak(delayMs)
    }
  }

  /** Stops pulling and waits for the publishes under way. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#messages?.close()
    await Promise.allSettled([...this.#inFlight])
  }
}
