/**
 * The queue of a keyed function in the replica that owns it (the consumer's pinned client): its
 * messages wait per key, and a message starts only when its key allows.
 *
 * - Ordered (`key`): a key runs one message at a time, the earliest first, and not while an
 *   earlier message of the key is unsettled anywhere: waiting for a retry (nak'd with a delay, so
 *   still pending on the server), or a *suspect*, a message another replica may still hold.
 * - Concurrency per key (`concurrency.key`): at most `limit` of a key run at once, suspects of the
 *   key counted as running; retries do not hold the key.
 *
 * Suspects come from a takeover (see function-consumer.ts): what the consumer delivered and did not
 * see acked when this replica became the owner. They go when they come back to this replica, when
 * the ack floor passes them, or when the server counts no pending message but this replica's.
 * Keys live only while they have something waiting, running or pending: memory follows the keys
 * in flight, not every key ever seen.
 *
 * A rate limit per key (`rateLimit.key`) is kept here too, as a GCRA per key (the theoretical
 * arrival time of its next run): a key over its rate is not ready until its next run is due, and
 * the queue wakes the dispatcher then. A key's time is forgotten once it is in the past (a fresh
 * key and an idle one are alike).
 */
import type { ResolvedKeying, ResolvedRateLimit } from '../function/function-options.ts'

/** What the queue needs of a message. */
export interface KeyedItem {
  seq: number
  /** Its key; set before it is pushed. */
  key?: string | undefined
  /** Set by `take`: the message was handed out to run. */
  started?: boolean
}

/** Why a message known elsewhere holds its key. */
type Pending = 'retry' | 'suspect'

class KeyState<T extends KeyedItem> {
  running = 0
  /** Waiting to run, by stream sequence. */
  readonly waiting: T[] = []
  /** Unsettled elsewhere (waiting for redelivery, or maybe held by another replica). */
  readonly pending = new Map<number, Pending>()
  ready = false
  constructor(readonly key: string) {}
}

export class KeyedQueue<T extends KeyedItem> {
  readonly #keys = new Map<string, KeyState<T>>()
  /** Keys with a message that may start now, in the order they became ready. */
  readonly #ready = new Set<KeyState<T>>()
  #limit: number
  #ordered: boolean
  #size = 0
  #suspects = 0
  /** While set, nothing starts: a takeover is learning what other replicas may hold. */
  #frozen = false

  #rate: ResolvedRateLimit | undefined
  /** Per key with a rate: when its next run is due at the steady rate (GCRA's TAT), ms since the epoch. */
  readonly #tat = new Map<string, number>()
  #wakeAt = 0
  #wakeTimer: NodeJS.Timeout | undefined
  readonly #wake: () => void

  /** `wake`: a key held by its rate may start now (dispatch again). */
  constructor(keying: Pick<ResolvedKeying, 'limit' | 'ordered' | 'rate'>, wake: () => void = () => {}) {
    this.#limit = keying.limit
    this.#ordered = keying.ordered
    this.#rate = keying.rate
    this.#wake = wake
  }

  /** Stops the rate timer. */
  close(): void {
    clearTimeout(this.#wakeTimer)
    this.#wakeTimer = undefined
  }

  /** Messages waiting (not running). */
  get size(): number {
    return this.#size
  }

  /** Suspects not yet resolved. */
  get suspects(): number {
    return this.#suspects
  }

  /** Keys known now (waiting, running or pending). */
  get keys(): number {
    return this.#keys.size
  }

  get frozen(): boolean {
    return this.#frozen
  }

  /** A new version may change the limit or the ordering; waiting messages are re-examined. */
  configure(keying: Pick<ResolvedKeying, 'limit' | 'ordered' | 'rate'>): void {
    this.#limit = keying.limit
    this.#ordered = keying.ordered
    if (JSON.stringify(keying.rate) !== JSON.stringify(this.#rate)) this.#tat.clear()
    this.#rate = keying.rate
    for (const s of this.#keys.values()) this.#update(s)
  }

  /** Stops (true) or lets (false) messages start. */
  freeze(frozen: boolean): void {
    this.#frozen = frozen
  }

  /** Queues a message by its key; a message that was pending (a retry, a suspect) is back. */
  push(d: T): void {
    const s = this.#state(d.key ?? '')
    const was = s.pending.get(d.seq)
    if (was !== undefined) {
      s.pending.delete(d.seq)
      if (was === 'suspect') this.#suspects--
    }
    d.started = false
    const w = s.waiting
    let i = w.length
    while (i > 0 && w[i - 1]!.seq > d.seq) i--
    w.splice(i, 0, d)
    this.#size++
    this.#update(s)
  }

  /** How many messages could start now, counting at most `max`. */
  ready(max: number): number {
    if (this.#frozen) return 0
    let n = 0
    for (const s of this.#ready) {
      n += this.#startable(s)
      if (n >= max) return max
    }
    return n
  }

  /** Takes up to `n` messages that may start now, marking them running. */
  take(n: number): T[] {
    const out: T[] = []
    if (this.#frozen) return out
    for (const s of this.#ready) {
      if (out.length >= n) break
      let can = this.#startable(s)
      while (can-- > 0 && out.length < n) {
        const d = s.waiting.shift()!
        d.started = true
        s.running++
        this.#size--
        out.push(d)
        if (this.#rate) this.#spend(s.key)
      }
      this.#update(s)
    }
    return out
  }

  /**
   * A message left this replica's hands: `done` (acked, dead-lettered) or `pending` (nak'd, so the
   * server holds it for redelivery). A message that was never started only leaves the queue.
   */
  settled(d: T, how: 'done' | 'pending'): void {
    const s = this.#keys.get(d.key ?? '')
    if (!s) return
    if (d.started) {
      d.started = false
      s.running--
    } else {
      const i = s.waiting.indexOf(d)
      if (i >= 0) {
        s.waiting.splice(i, 1)
        this.#size--
      }
    }
    if (how === 'pending' && this.#ordered) s.pending.set(d.seq, 'retry')
    this.#update(s)
  }

  /** Empties the queue of waiting messages (to hand them back); running ones stay counted. */
  takeWaiting(): T[] {
    const out: T[] = []
    for (const s of this.#keys.values()) {
      out.push(...s.waiting.splice(0))
      this.#update(s)
    }
    this.#size = 0
    return out
  }

  /** Adds suspects: messages of these keys that another replica may still hold. */
  addSuspects(bySeq: ReadonlyMap<number, string>): void {
    for (const [seq, key] of bySeq) {
      const s = this.#state(key)
      if (s.pending.has(seq)) continue
      s.pending.set(seq, 'suspect')
      this.#suspects++
      this.#update(s)
    }
  }

  /** Forgets what is settled for sure: pending messages at or below the ack floor. */
  settledThrough(floor: number): void {
    for (const s of [...this.#keys.values()]) {
      if (s.pending.size === 0) continue
      for (const [seq, why] of s.pending) {
        if (seq > floor) continue
        s.pending.delete(seq)
        if (why === 'suspect') this.#suspects--
      }
      this.#update(s)
    }
  }

  /** Forgets every suspect (the server holds nothing pending but this replica's). */
  clearSuspects(): void {
    for (const s of [...this.#keys.values()]) {
      for (const [seq, why] of s.pending) if (why === 'suspect') s.pending.delete(seq)
      this.#update(s)
    }
    this.#suspects = 0
  }

  /** Stream sequences of messages nak'd by this replica and not yet back. */
  retrying(): number[] {
    const out: number[] = []
    for (const s of this.#keys.values()) for (const [seq, why] of s.pending) if (why === 'retry') out.push(seq)
    return out
  }

  #state(key: string): KeyState<T> {
    let s = this.#keys.get(key)
    if (!s) {
      s = new KeyState<T>(key)
      this.#keys.set(key, s)
    }
    return s
  }

  /** How many of the key's waiting messages may start now. */
  #startable(s: KeyState<T>): number {
    const head = s.waiting[0]
    if (!head) return 0
    let n: number
    if (this.#ordered) {
      if (s.running > 0) return 0
      for (const seq of s.pending.keys()) if (seq < head.seq) return 0
      n = 1
    } else {
      let suspects = 0
      for (const why of s.pending.values()) if (why === 'suspect') suspects++
      n = Math.max(0, Math.min(s.waiting.length, this.#limit - s.running - suspects))
    }
    return this.#rate && n > 0 ? Math.min(n, this.#tokens(s.key)) : n
  }

  /** Runs key `key` may start now under its rate (GCRA: at most `burst` at once, then one per `perMs / limit`). */
  #tokens(key: string): number {
    const r = this.#rate!
    const now = Date.now()
    const interval = r.perMs / r.limit
    const tolerance = (r.burst - 1) * interval
    const tat = Math.max(this.#tat.get(key) ?? 0, now)
    const n = Math.floor((now + tolerance - tat) / interval) + 1
    if (n <= 0) this.#wakeBy(tat - tolerance)
    return Math.max(0, n)
  }

  #spend(key: string): void {
    const interval = this.#rate!.perMs / this.#rate!.limit
    const now = Date.now()
    this.#tat.set(key, Math.max(this.#tat.get(key) ?? 0, now) + interval)
    // Keys seen once and gone: forgotten once their time has passed, so memory follows live keys.
    if (this.#tat.size > 1_024 && this.#tat.size > 2 * this.#keys.size) for (const [k, tat] of this.#tat) if (tat <= now) this.#tat.delete(k)
  }

  /** Wakes the dispatcher at `at` (the earliest time a key held by its rate may start). */
  #wakeBy(at: number): void {
    if (this.#wakeTimer && this.#wakeAt <= at) return
    clearTimeout(this.#wakeTimer)
    this.#wakeAt = at
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined
      const now = Date.now()
      for (const [key, tat] of this.#tat) if (tat <= now) this.#tat.delete(key)
      for (const s of [...this.#keys.values()]) if (s.waiting.length > 0) this.#update(s)
      this.#wake()
    }, Math.max(1, Math.ceil(at - Date.now())))
    this.#wakeTimer.unref()
  }

  #update(s: KeyState<T>): void {
    const ready = this.#startable(s) > 0
    if (ready && !s.ready) this.#ready.add(s)
    else if (!ready && s.ready) this.#ready.delete(s)
    s.ready = ready
    if (s.running === 0 && s.waiting.length === 0 && s.pending.size === 0) {
      this.#keys.delete(s.key)
      if (s.ready) this.#ready.delete(s)
      s.ready = false
    }
  }
}
