/**
 * Stores delayed outputs (`ctx.publish(…, { delay | at })`, `fn invoke --delay`) and pending
 * debounce runs as `@at` schedules in `FN_SCHEDULES`. The schedule carries the real subject in
 * `Fn-Target` and the output's `Nats-Msg-Id` in `Fn-Msg-Id`; when due, the server produces the
 * message on `fn.delayed.<token>` and the relay ({@link DelayedRelay}) publishes it to its subject
 * under that id, so a redelivered handler stores nothing twice, here nor there.
 */
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { isNotFound } from '../nats/ensure-stream.ts'
import { hasFeature, missingFeature } from '../nats/server-features.ts'
import { REPLAY_FOR_HEADER } from '../dlq/replay-message.ts'
import { DEBOUNCED_HEADER } from '../pool/debounce-intake.ts'
import { debounceScheduleSubject, delayedSubject, delayScheduleSubject, SCHEDULES_STREAM, ScheduleHeaders, subjectToken } from './schedule-subjects.ts'

/** One delayed message: what to publish, where, when, and under which id. */
export interface DelayedMessage {
  subject: string
  data: Uint8Array
  headers: MsgHdrs
  /** Due time, ms since the epoch. */
  at: number
  /** The `Nats-Msg-Id` of the schedule, and of the message the relay publishes. */
  msgId: string
  /** The function that wrote it (for `fn schedules`); none for `fn invoke --delay`. */
  fn?: string | undefined
}

/** Tries of a debounce write that lost a race with another replica writing the same key. */
const DEBOUNCE_TRIES = 5

export class DelayedPublisher {
  readonly #nc: NatsConnection
  readonly #js: JetStreamClient
  #jsm: Promise<JetStreamManager> | undefined
  /** The debounce write in progress per schedule subject: writes of one key in this replica go one at a time. */
  readonly #writing = new Map<string, Promise<unknown>>()

  constructor(nc: NatsConnection, js: JetStreamClient) {
    this.#nc = nc
    this.#js = js
  }

  /** Stores `m` as a one-off `@at` schedule of its own (its subject derives from its id: a retry replaces it). */
  async publish(m: DelayedMessage): Promise<void> {
    this.#check()
    const schedule = delayScheduleSubject(subjectToken(m.msgId))
    const h = withScheduleHeaders(m)
    await this.#store(schedule, m, h)
  }

  /**
   * Makes `m` the pending run of `key` for function `fn`, replacing the one there unless that one
   * holds a later message of the source stream (`sourceSeq`): messages settled out of order, here
   * or on another replica, never put an older message back. The write is conditional on the
   * schedule seen (`Nats-Expected-Last-Subject-Sequence`) and tried again when another replica won.
   */
  async debounce(m: DelayedMessage & { fn: string }, key: string, source: { stream: string; seq: number }): Promise<'stored' | 'superseded'> {
    this.#check()
    const schedule = debounceScheduleSubject(m.fn, key)
    // One write of a key at a time in this replica: a burst of one key settled at once (a fast
    // function prefetches hundreds) would otherwise race for the same schedule and lose every
    // conditional write but one per round, past the tries; a write waiting here reads what the
    // one before stored, so an older message still never replaces a later one.
    const before = this.#writing.get(schedule)
    const write = (before ? before.catch(() => undefined) : Promise.resolve()).then(() => this.#debounce(m, key, source, schedule))
    this.#writing.set(schedule, write)
    try {
      return await write
    } finally {
      if (this.#writing.get(schedule) === write) this.#writing.delete(schedule)
    }
  }

  async #debounce(m: DelayedMessage & { fn: string }, key: string, source: { stream: string; seq: number }, schedule: string): Promise<'stored' | 'superseded'> {
    const jsm = await (this.#jsm ??= this.#js.jetstreamManager())
    const h = withScheduleHeaders(m)
    h.set(ScheduleHeaders.DebounceKey, printable(key))
    h.set(ScheduleHeaders.SourceSeq, `${source.stream}:${source.seq}`)
    // It comes back to the function's own subject: every other function there skips it, and this
    // one runs it rather than debouncing it again.
    h.set(DEBOUNCED_HEADER, m.fn)
    h.set(REPLAY_FOR_HEADER, m.fn)
    for (let attempt = 1; ; attempt++) {
      const last = await jsm.streams.getMessage(SCHEDULES_STREAM, { last_by_subj: schedule }).catch((err: unknown) => {
        if (isNotFound(err)) return null
        throw err
      })
      const held = last?.header.get(ScheduleHeaders.SourceSeq)
      if (held) {
        const [stream, seq] = [held.slice(0, held.lastIndexOf(':')), Number(held.slice(held.lastIndexOf(':') + 1))]
        if (stream === source.stream && seq >= source.seq) return 'superseded'
      }
      try {
        await this.#store(schedule, m, h, last?.seq ?? 0)
        return 'stored'
      } catch (err) {
        if (attempt >= DEBOUNCE_TRIES || !/wrong last sequence/i.test((err as Error).message)) throw err
      }
    }
  }

  async #store(schedule: string, m: DelayedMessage, h: MsgHdrs, lastSubjectSequence?: number): Promise<void> {
    try {
      await this.#js.publish(schedule, m.data, {
        msgID: m.msgId,
        headers: h,
        schedule: { specification: { at: new Date(m.at) }, target: delayedSubject(schedule) },
        ...(lastSubjectSequence === undefined ? {} : { expect: { lastSubjectSequence } }),
      })
    } catch (err) {
      if (/no responders|stream not found/i.test((err as Error).message)) {
        throw new Error(`delayed messages are kept in stream ${SCHEDULES_STREAM}, which does not exist: \`fn deploy\` creates it`, { cause: err })
      }
      throw err
    }
  }

  #check(): void {
    const version = this.#nc.info?.version
    if (!hasFeature('delayed messages', version)) throw new Error(`a delayed publish: ${missingFeature('delayed messages', version ?? '0.0.0')}`)
  }
}

function withScheduleHeaders(m: DelayedMessage): MsgHdrs {
  const h = natsHeaders()
  for (const [k, values] of m.headers) for (const v of values) h.append(k, v)
  h.set(ScheduleHeaders.Target, m.subject)
  h.set(ScheduleHeaders.MsgId, m.msgId)
  if (m.fn) h.set(ScheduleHeaders.Function, m.fn)
  return h
}

/** A key as a header value: no control characters, at most 200 characters. */
function printable(key: string): string {
  const clean = key.replace(/[\u0000-\u001f\u007f]/g, '?')
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean
}
