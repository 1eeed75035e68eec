/**
 * A pull loop for one durable consumer that holds no more messages than its owner can take.
 *
 * nats.js `consume()` pulls again as messages *arrive*, not as they are processed, so it cannot
 * bound what a replica holds. This loop speaks the pull protocol itself: it keeps a count of the
 * messages it has asked for and not yet received (`outstanding`), and asks for more only when
 * `capacity() - outstanding` is worth a pull. Messages arrive on one inbox subscription callback
 * (no async iterator: a burst read from the socket is handed over in one synchronous run, so the
 * acks it leads to are written together).
 *
 * Every pull carries an idle heartbeat; when neither a message nor a heartbeat arrives for two
 * heartbeat periods while a pull is open, the pull is presumed lost (server restart, consumer
 * deleted, leader change) and `onStall` is called before pulling afresh: nothing stays silently dead.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node'
import { nanos } from '@nats-io/transport-node'
import { connectionInbox } from '../nats/connection-inbox.ts'
import type { Logger } from 'pino'
import { guardCallback } from '../nats/guard-callback.ts'

/** Options of {@link PullLoop}. */
export interface PullLoopOptions {
  nc: NatsConnection
  stream: string
  consumer: string
  log: Logger
  /** How many more messages the owner can take now (free slots plus room in its prefetch). */
  capacity: () => number
  /** Smallest pull worth sending now; smaller gaps wait until more slots free up. Asked at every pull: it follows the function's current concurrency. */
  minPull: () => number
  /** Receives each delivered message (with `$JS.ACK` reply subject), synchronously. */
  onMessage: (msg: Msg) => void
  /** Called when a pull went silent or the server said the consumer is gone; may recreate it. */
  onStall: (reason: string) => Promise<void>
  /** Server-side lifetime of one pull request, ms. Default 30 000. */
  expiresMs?: number
  /** Idle heartbeat the server sends on an open pull, ms. Default 5 000. */
  heartbeatMs?: number
  /**
   * Set while the consumer is pinned (a keyed function): pulls join the priority group, and carry
   * the pin once this replica holds it. Asked at every pull: it follows the function's version.
   */
  pinned?: () => { timeoutMs: number } | undefined
  /** The server took the pin from this replica (status 423): another replica owns the function now. */
  onPinLost?: () => void
}

const PULL_PREFIX = '$JS.API.CONSUMER.MSG.NEXT.'
/** The priority group of pinned consumers (see ensure-consumer.ts). */
const PIN_GROUP = 'jetfn'

export class PullLoop {
  readonly #o: Required<PullLoopOptions>
  readonly #inbox: string
  readonly #subject: string
  #sub: Subscription | undefined
  #outstanding = 0
  #lastSeen = 0
  #timer: NodeJS.Timeout | undefined
  #stalled: Promise<void> | undefined
  #running = false
  /** The pin this replica holds (`Nats-Pin-Id`), when pinned. */
  #pin: string | undefined
  #lastPullAt = 0
  #pinTimer: NodeJS.Timeout | undefined

  constructor(opts: PullLoopOptions) {
    this.#o = { expiresMs: 30_000, heartbeatMs: 5_000, pinned: () => undefined, onPinLost: () => {}, ...opts }
    this.#subject = `${PULL_PREFIX}${opts.stream}.${opts.consumer}`
    this.#inbox = connectionInbox(opts.nc)
  }

  /** Messages asked for and not yet received. */
  get outstanding(): number {
    return this.#outstanding
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    // A restart after stop(): pulls of the old subscription ended with it.
    this.#outstanding = 0
    // The callback runs on the client's socket reader: guarded, so that nothing a message
    // carries can close the reader and deafen the connection.
    this.#sub = this.#o.nc.subscribe(this.#inbox, { callback: guardCallback(this.#o.log, 'pull inbox', (msg) => this.#onMsg(msg)) })
    this.#lastSeen = Date.now()
    this.#timer = setInterval(() => this.#checkHeartbeat(), this.#o.heartbeatMs)
    this.#timer.unref()
    this.#pinTimer = setInterval(() => this.#keepPin(), 250)
    this.#pinTimer.unref()
    this.poke()
  }

  /** The pin this replica holds; undefined when it holds none (or the consumer is not pinned). */
  get pin(): string | undefined {
    return this.#pin
  }

  /** Records the pin the server gave this replica (read from a delivered message's `Nats-Pin-Id`). */
  pinnedAs(id: string): void {
    this.#pin = id
  }

  /**
   * Stops for good: no more pulls, and the inbox is closed. The server drops a waiting pull as
   * soon as its inbox has no subscriber (measured on 2.15.1: num_waiting falls to 0 and later
   * messages stay pending), so open pulls end with it. Only a message already on the wire at
   * that instant is lost to this replica; the server redelivers it after `ack_wait`. Keeping the
   * inbox open to nak such stragglers would be worse: the open pull would hand every nak'd
   * message straight back, burning its deliveries.
   */
  stop(): void {
    this.#running = false
    this.#pin = undefined
    clearInterval(this.#timer)
    clearInterval(this.#pinTimer)
    this.#sub?.unsubscribe()
    this.#sub = undefined
  }

  /** Sends a pull if there is room for one. Call whenever the owner's capacity grows. */
  poke(): void {
    if (!this.#running || this.#stalled) return
    const want = this.#o.capacity() - this.#outstanding
    if (want <= 0 || want < this.#o.minPull()) return
    this.#outstanding += want
    const pinned = this.#o.pinned()
    // A pinned replica keeps its pin only by pulling again within the pin timeout.
    const expiresMs = pinned ? Math.min(this.#o.expiresMs, Math.max(500, Math.floor(pinned.timeoutMs / 3))) : this.#o.expiresMs
    const request = {
      batch: want,
      expires: nanos(expiresMs),
      // The server wants the heartbeat under half the expiry.
      idle_heartbeat: nanos(Math.min(this.#o.heartbeatMs, Math.floor(expiresMs / 3))),
      ...(pinned ? { group: PIN_GROUP, ...(this.#pin ? { id: this.#pin } : {}) } : {}),
    }
    try {
      this.#o.nc.publish(this.#subject, JSON.stringify(request), { reply: this.#inbox })
      this.#lastPullAt = Date.now()
    } catch (err) {
      // Publishing fails only while the connection is closed; the heartbeat check pulls again.
      this.#outstanding -= want
      this.#o.log.warn({ err }, 'pull request not sent')
    }
  }

  /**
   * A pinned replica with no room for a message still pulls within the pin timeout, or the server
   * pins another one: a pull of at most 1 byte keeps the pin and is never given a message (409
   * "Message Size Exceeds MaxBytes", measured on 2.15.1).
   */
  #keepPin(): void {
    const pinned = this.#o.pinned()
    if (!this.#running || this.#stalled || !pinned || !this.#pin) return
    const every = Math.max(250, Math.floor(pinned.timeoutMs / 3))
    if (Date.now() - this.#lastPullAt < every) return
    const request = { batch: 1, max_bytes: 1, expires: nanos(every), group: PIN_GROUP, id: this.#pin }
    try {
      this.#o.nc.publish(this.#subject, JSON.stringify(request), { reply: this.#inbox })
      this.#lastPullAt = Date.now()
    } catch {
      // The connection is closed; the heartbeat check recovers.
    }
  }

  /** Forgets every open pull (after a reconnect, the server may have dropped them) and pulls again. */
  reset(reason: string): void {
    this.#o.log.info({ reason, outstanding: this.#outstanding }, 'pull reset')
    this.#outstanding = 0
    this.#lastSeen = Date.now()
    this.poke()
  }

  #onMsg(msg: Msg): void {
    this.#lastSeen = Date.now()
    if (msg.reply !== undefined && msg.reply.startsWith('$JS.ACK.')) {
      if (this.#outstanding > 0) this.#outstanding--
      this.#o.onMessage(msg)
      return
    }
    this.#onStatus(msg)
  }

  #onStatus(msg: Msg): void {
    const h = msg.headers
    const code = h?.code ?? 0
    if (code === 100) return // idle heartbeat: the pull is alive
    if (code === 404 || code === 408) {
      // The pull ended (expired) with this many of its messages not delivered.
      const left = Number(h?.get('Nats-Pending-Messages') || 0)
      this.#outstanding = Math.max(0, this.#outstanding - left)
      this.poke()
      return
    }
    if (code === 423) {
      // Pinned consumer: another replica holds the pin (or ours went stale). Every open pull of
      // ours ended; pull again as a standby, without an id, to be pinned when the owner goes.
      const had = this.#pin !== undefined
      this.#pin = undefined
      this.#outstanding = 0
      if (had) {
        this.#o.log.info({ status: h?.description }, 'pin lost: another replica runs this function now')
        this.#o.onPinLost()
      }
      this.poke()
      return
    }
    if (code === 409 && /exceeds maxbytes/i.test(h?.description ?? '')) return // the pin keep-alive's answer
    if (code === 400) {
      // The consumer and this version disagree on pinning (a deploy is changing it): recover.
      // Pulled again at the next heartbeat check, not at once: no loop of refused pulls.
      this.#o.log.warn({ code, description: h?.description }, 'pull refused by the server')
      this.#outstanding = 0
      this.#o.onStall(`server: ${h?.description ?? 'bad request'}`).catch((err: unknown) => this.#o.log.error({ err }, 'pull recovery failed'))
      return
    }
    if (code === 409) {
      const description = h?.description ?? ''
      this.#o.log.warn({ code, description }, 'pull ended by the server')
      if (/consumer deleted|consumer is push based/i.test(description)) {
        this.#stall(`server: ${description}`)
        return
      }
      // Leadership change and the like end every open pull without saying how much was left.
      this.reset(description || 'status 409')
      return
    }
    this.#o.log.debug({ code, description: h?.description }, 'unexpected status on the pull inbox')
  }

  #checkHeartbeat(): void {
    if (!this.#running || this.#stalled) return
    if (this.#outstanding === 0) {
      this.poke()
      return
    }
    if (Date.now() - this.#lastSeen > 2 * this.#o.heartbeatMs) this.#stall('pull heartbeats missed')
  }

  #stall(reason: string): void {
    if (this.#stalled) return
    this.#o.log.warn({ reason }, 'pull stalled; recovering')
    this.#stalled = this.#o
      .onStall(reason)
      .catch((err: unknown) => this.#o.log.error({ err }, 'pull recovery failed; retrying at the next heartbeat'))
      .finally(() => {
        this.#stalled = undefined
        this.#outstanding = 0
        this.#lastSeen = Date.now()
        this.poke()
      })
  }
}
