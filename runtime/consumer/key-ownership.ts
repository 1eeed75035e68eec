/**
 * Ownership of a keyed function by this replica: what it must learn before it starts anything
 * when it becomes the consumer's pinned client, and how it lets go.
 *
 * One replica at a time runs a keyed function (the pinned client of its consumer's priority
 * group). When the pin moves (the owner was killed, stalled, or stopped), the new owner may not
 * know what the old one still ran or left unacked: a later message of a key must not start before
 * those settle. So on becoming the owner it freezes its queue, reads the consumer's ack floor and
 * last delivered sequence, and reads the key of every message in between that it does not hold
 * (stream message get): those are *suspects* holding their keys (KeyedQueue). A suspect goes when
 * it is redelivered here, when the ack floor passes it, or when the server counts no pending
 * message but this replica's own (checked every second while any suspect is left).
 *
 * With more than {@link MAX_SUSPECT_READS} sequences in between, reading them all would take too
 * long: the queue stays frozen until the server counts no pending message but this replica's.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { WireHeaders } from '../pool/protocol.ts'
import { decodeHeaderBlock } from './read-headers.ts'
import type { Held } from './held-message.ts'
import type { KeyedQueue } from './keyed-queue.ts'

/** Most messages read to learn suspects' keys at a takeover. */
export const MAX_SUSPECT_READS = 10_000
/** Stream message gets in flight at once during a takeover. */
const READS_IN_FLIGHT = 32
/** How often unresolved suspects are checked against the consumer's state, ms. */
const RESOLVE_EVERY_MS = 1_000

/** What the consumer's state says, read with `$JS.API.CONSUMER.INFO`. */
export interface ConsumerState {
  ackFloor: number
  delivered: number
  ackPending: number
}

/** Options of {@link KeyOwnership}. */
export interface KeyOwnershipOptions {
  nc: NatsConnection
  stream: string
  consumer: string
  queue: KeyedQueue<Held>
  /** The messages this replica holds now. */
  held: () => Held[]
  /**
   * The keys of messages read from the stream: a key per message, or undefined when it cannot be
   * told here (a key function); then the queue stays frozen until the server's count resolves it.
   */
  keys: (messages: ReadonlyArray<{ seq: number; subject: string; headers: WireHeaders }>) => Promise<Array<string | undefined>>
  /** Something may start now: dispatch. */
  changed: () => void
  log: () => Logger
}

export class KeyOwnership {
  readonly #o: KeyOwnershipOptions
  /** Bumped at every takeover and release: work of an older one is dropped. */
  #epoch = 0
  /** Frozen until the server shows nothing pending but this replica's (too many, or unreadable, suspects). */
  #blind = false
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor(opts: KeyOwnershipOptions) {
    this.#o = opts
  }

  /** This replica became the owner (a new pin): learn the suspects before anything starts. */
  takeOver(): void {
    const epoch = ++this.#epoch
    const q = this.#o.queue
    q.freeze(true)
    q.clearSuspects()
    void this.#learn(epoch)
  }

  /** This replica is no longer the owner: nothing is learned or resolved for it any more. */
  release(): void {
    this.#epoch++
    this.#blind = false
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  close(): void {
    this.#closed = true
    this.release()
  }

  async #learn(epoch: number): Promise<void> {
    const log = this.#o.log()
    try {
      const state = await this.#state()
      if (epoch !== this.#epoch) return
      const mine = new Set(this.#o.held().map((d) => d.seq))
      const span = state.delivered - state.ackFloor
      const q = this.#o.queue
      if (span > MAX_SUSPECT_READS) {
        this.#blind = true
        log.warn({ ackFloor: state.ackFloor, delivered: state.delivered }, 'took over a keyed function with too many unsettled messages to read: nothing starts until the server holds none but this replica’s')
      } else {
        const seqs: number[] = []
        for (let s = state.ackFloor + 1; s <= state.delivered; s++) if (!mine.has(s)) seqs.push(s)
        const read = await this.#read(seqs)
        if (epoch !== this.#epoch) return
        const keys = await this.#o.keys(read)
        if (epoch !== this.#epoch) return
        const suspects = new Map<number, string>()
        for (const [i, m] of read.entries()) {
          const key = keys[i]
          if (key === undefined) this.#blind = true
          else suspects.set(m.seq, key)
        }
        q.addSuspects(suspects)
        log.info({ ackFloor: state.ackFloor, delivered: state.delivered, suspects: suspects.size, blind: this.#blind }, 'took over a keyed function')
      }
      if (!this.#blind) q.freeze(false)
      this.#o.changed()
      this.#scheduleResolve(epoch)
    } catch (err) {
      if (epoch !== this.#epoch || this.#closed) return
      log.warn({ err }, 'takeover of a keyed function failed; retrying')
      this.#timer = setTimeout(() => void this.#learn(epoch), RESOLVE_EVERY_MS)
      this.#timer.unref()
    }
  }

  #scheduleResolve(epoch: number): void {
    clearTimeout(this.#timer)
    if (this.#closed || epoch !== this.#epoch) return
    if (this.#o.queue.suspects === 0 && !this.#blind) return
    this.#timer = setTimeout(() => void this.#resolve(epoch), RESOLVE_EVERY_MS)
    this.#timer.unref()
  }

  /**
   * Drops suspects the server says are settled. The count is sound only for messages whose state
   * could not change while the request was out: those held here, unsettled both when it was sent
   * and when it came back, and those nak'd here and still pending (a nak'd message stays in
   * `num_ack_pending` until acked). Anything else makes the server's count larger, never smaller.
   */
  async #resolve(epoch: number): Promise<void> {
    const q = this.#o.queue
    const before = this.#o.held().filter((d) => !d.settling)
    const retryBefore = new Set(q.retrying())
    try {
      const state = await this.#state()
      if (epoch !== this.#epoch) return
      const unsettledNow = new Set<number>()
      for (const d of this.#o.held()) if (!d.settling) unsettledNow.add(d.seq)
      const retryNow = new Set(q.retrying())
      let mine = 0
      const counted = new Set<number>()
      for (const d of before) {
        if (!d.settling && !counted.has(d.seq)) {
          counted.add(d.seq)
          mine++
        }
      }
      for (const seq of retryBefore) {
        if (!counted.has(seq) && (retryNow.has(seq) || unsettledNow.has(seq))) {
          counted.add(seq)
          mine++
        }
      }
      q.settledThrough(state.ackFloor)
      if (state.ackPending <= mine) {
        if (q.suspects > 0 || this.#blind) this.#o.log().info({ suspects: q.suspects, pending: state.ackPending }, 'no message pending elsewhere: keys held for a takeover are free')
        q.clearSuspects()
        this.#blind = false
      }
      if (!this.#blind && q.frozen) q.freeze(false)
      this.#o.changed()
    } catch (err) {
      this.#o.log().debug({ err }, 'reading the consumer state failed; retrying')
    }
    this.#scheduleResolve(epoch)
  }

  async #state(): Promise<ConsumerState> {
    const reply = await this.#o.nc.request(`$JS.API.CONSUMER.INFO.${this.#o.stream}.${this.#o.consumer}`, '', { timeout: 5_000 })
    const info = reply.json<{ ack_floor?: { stream_seq: number }; delivered?: { stream_seq: number }; num_ack_pending?: number; error?: { description: string } }>()
    if (info.error) throw new Error(`consumer info of ${this.#o.consumer}: ${info.error.description}`)
    return { ackFloor: info.ack_floor?.stream_seq ?? 0, delivered: info.delivered?.stream_seq ?? 0, ackPending: info.num_ack_pending ?? 0 }
  }

  /** Reads messages by sequence (subject and headers); a message no longer in the stream is skipped. */
  async #read(seqs: number[]): Promise<Array<{ seq: number; subject: string; headers: WireHeaders }>> {
    const out: Array<{ seq: number; subject: string; headers: WireHeaders } | undefined> = new Array(seqs.length)
    let next = 0
    const worker = async () => {
      while (next < seqs.length) {
        const i = next++
        out[i] = await this.#get(seqs[i]!)
      }
    }
    await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, seqs.length) }, worker))
    return out.filter((m) => m !== undefined)
  }

  async #get(seq: number): Promise<{ seq: number; subject: string; headers: WireHeaders } | undefined> {
    const reply = await this.#o.nc.request(`$JS.API.STREAM.MSG.GET.${this.#o.stream}`, JSON.stringify({ seq }), { timeout: 5_000 })
    const r = reply.json<{ message?: { subject: string; hdrs?: string }; error?: { code: number; description: string } }>()
    if (r.error) {
      if (r.error.code === 404) return undefined
      throw new Error(`message ${seq} of ${this.#o.stream}: ${r.error.description}`)
    }
    const m = r.message!
    if (!m.hdrs) return { seq, subject: m.subject, headers: null }
    const read = decodeHeaderBlock(Buffer.from(m.hdrs, 'base64'))
    return { seq, subject: m.subject, headers: read.ok ? read.headers : null }
  }
}
