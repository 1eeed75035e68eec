/**
 * What the dashboard shows that JetStream does not keep: each function's rate, p50/p99 run time
 * and outcomes, across every replica, from the invocation events they publish
 * (`fn.events.<fn>`), and the live tail of a function (events and `ctx.log` lines).
 *
 * Replicas publish events only for functions someone watches (see `event-publisher.ts`): while a
 * dashboard is open (an API call within {@link IDLE_AFTER_MS}), this asks for every deployed
 * function's events, and stops asking once it is closed, so that the replicas stop publishing.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { watchSubject, type WatchRequest } from '../../observe/event-publisher.ts'
import type { InvocationEvent } from '../../observe/invocation-event.ts'
import { guardCallback } from '../../nats/guard-callback.ts'

/** A dashboard with no API call for this long is closed: events are no longer asked for, ms. */
export const IDLE_AFTER_MS = 60_000
/** How long the first watch waits for replicas to answer, ms. */
const FIRST_WATCH_WAIT_MS = 300
/** How long one watch request keeps a replica publishing, ms (renewed at a third of it). */
const WATCH_TTL_MS = 30_000
/** The window of the rate, ms. */
const RATE_WINDOW_MS = 10_000
/** The window of p50/p99 and the outcome counts, ms. */
export const FIGURES_WINDOW_MS = 5 * 60_000
/** Events kept per function (the figures are over at most these). */
const KEEP = 5_000
/** Tail lines kept per function, sent first to a tail that opens. */
const RECENT = 50

/** A function's figures over the last {@link FIGURES_WINDOW_MS}, from every replica. */
export interface LiveFigures {
  /** Settled invocations per second over the last 10 s. */
  rate: number
  /** Run time percentiles, ms; null with no run in the window. */
  p50Ms: number | null
  p99Ms: number | null
  ok: number
  retried: number
  deadLettered: number
  /** Since when figures are gathered (the dashboard was opened), ms since the epoch. */
  since: number
}

/** One line of a function's live tail. */
export type TailItem = { type: 'event'; event: InvocationEvent } | { type: 'log'; line: string }

interface Ring {
  at: Float64Array
  ms: Float64Array
  outcome: Uint8Array
  next: number
  size: number
}

const OUTCOME = { ok: 0, retried: 1, 'dead-lettered': 2 } as const

/** Gathers every replica's invocation events while a dashboard is open: figures per function and live tails. */
export class LiveStats {
  readonly #nc: NatsConnection
  readonly #log: Logger
  readonly #functions: () => Promise<string[]>
  readonly #rings = new Map<string, Ring>()
  readonly #tails = new Map<string, Set<(item: TailItem) => void>>()
  readonly #recent = new Map<string, TailItem[]>()
  #subs: Subscription[] = []
  #timer: NodeJS.Timeout | undefined
  #lastUse = 0
  #since = 0
  /** Set while watching: resolves once the first watch requests were answered. */
  #started: Promise<void> | undefined

  constructor(opts: { nc: NatsConnection; log: Logger; functions: () => Promise<string[]> }) {
    this.#nc = opts.nc
    this.#log = opts.log
    this.#functions = opts.functions
  }

  /**
   * A dashboard asked for something: start (or keep) watching every function. The first call
   * resolves once the replicas that answer within a moment are publishing, so that what happens
   * after the page first shows is counted.
   */
  touch(): Promise<void> {
    this.#lastUse = Date.now()
    if (this.#started) return this.#started
    this.#since = Date.now()
    this.#subs = [
      this.#nc.subscribe('fn.events.*', { callback: guardCallback(this.#log, 'dashboard events', (m) => this.#event(m.json<InvocationEvent>())) }),
      this.#nc.subscribe('fn.logs.*', { callback: guardCallback(this.#log, 'dashboard logs', (m) => this.#emit(m.subject.slice('fn.logs.'.length), { type: 'log', line: m.string() })) }),
    ]
    this.#started = this.#watch(true)
    this.#timer = setInterval(() => {
      if (Date.now() - this.#lastUse > IDLE_AFTER_MS && this.#tails.size === 0) this.#idle()
      else void this.#watch()
    }, WATCH_TTL_MS / 3)
    this.#timer.unref()
    return this.#started
  }

  /** The figures of `fn` now. */
  figures(fn: string): LiveFigures {
    const now = Date.now()
    const r = this.#rings.get(fn)
    const out: LiveFigures = { rate: 0, p50Ms: null, p99Ms: null, ok: 0, retried: 0, deadLettered: 0, since: this.#since }
    if (!r) return out
    const durations: number[] = []
    let recent = 0
    for (let i = 0; i < r.size; i++) {
      const age = now - r.at[i]!
      if (age > FIGURES_WINDOW_MS) continue
      if (age <= RATE_WINDOW_MS) recent++
      const o = r.outcome[i]
      if (o === OUTCOME.ok) out.ok++
      else if (o === OUTCOME.retried) out.retried++
      else out.deadLettered++
      if (r.ms[i]! >= 0) durations.push(r.ms[i]!)
    }
    out.rate = recent / (RATE_WINDOW_MS / 1000)
    if (durations.length > 0) {
      durations.sort((a, b) => a - b)
      out.p50Ms = durations[Math.min(durations.length - 1, Math.floor(durations.length * 0.5))]!
      out.p99Ms = durations[Math.min(durations.length - 1, Math.floor(durations.length * 0.99))]!
    }
    return out
  }

  /** Follows `fn`'s tail, its recent lines first, until the returned function is called. */
  tail(fn: string, listener: (item: TailItem) => void): () => void {
    void this.touch()
    for (const item of this.#recent.get(fn) ?? []) listener(item)
    let set = this.#tails.get(fn)
    if (!set) this.#tails.set(fn, (set = new Set()))
    set.add(listener)
    return () => {
      set.delete(listener)
      if (set.size === 0) this.#tails.delete(fn)
    }
  }

  close(): void {
    this.#idle()
    this.#tails.clear()
  }

  #idle(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#started = undefined
    for (const s of this.#subs) s.unsubscribe()
    this.#subs = []
    this.#rings.clear()
    this.#recent.clear()
  }

  async #watch(first = false): Promise<void> {
    try {
      const body = JSON.stringify({ ttlMs: WATCH_TTL_MS } satisfies WatchRequest)
      const functions = await this.#functions()
      if (!first) {
        for (const fn of functions) this.#nc.publish(watchSubject(fn), body)
        return
      }
      // As `fn logs` does: a request every replica answers once it publishes.
      await Promise.all(
        functions.map(async (fn) => {
          for await (const _ of await this.#nc.requestMany(watchSubject(fn), body, { maxWait: FIRST_WATCH_WAIT_MS })) {
            // Each answer is a replica now publishing this function's events.
          }
        }),
      )
    } catch (err) {
      this.#log.warn({ err }, 'dashboard: cannot ask replicas for events')
    }
  }

  #event(e: InvocationEvent): void {
    let r = this.#rings.get(e.fn)
    if (!r) this.#rings.set(e.fn, (r = { at: new Float64Array(KEEP), ms: new Float64Array(KEEP), outcome: new Uint8Array(KEEP), next: 0, size: 0 }))
    r.at[r.next] = e.at
    r.ms[r.next] = e.durationMs ?? -1
    r.outcome[r.next] = OUTCOME[e.outcome] ?? OUTCOME.retried
    r.next = (r.next + 1) % KEEP
    r.size = Math.min(KEEP, r.size + 1)
    this.#emit(e.fn, { type: 'event', event: e })
  }

  #emit(fn: string, item: TailItem): void {
    let recent = this.#recent.get(fn)
    if (!recent) this.#recent.set(fn, (recent = []))
    recent.push(item)
    if (recent.length > RECENT) recent.shift()
    const set = this.#tails.get(fn)
    if (set) for (const l of set) l(item)
  }
}
