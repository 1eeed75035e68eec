/**
 * A replica's Prometheus metrics, served on `/metrics` by prom-client with a registry of the
 * replica's own (never the global one, so two replicas in one process keep apart).
 *
 * The hot path is {@link ReplicaMetrics.settled}: it only bumps numbers in a per-function record
 * (no prom-client call, no allocation once the function has been seen). prom-client's own
 * `inc()`/`observe()` with labels cost about 2 µs per invocation here (they build a label hash
 * string each call), so the totals are handed to prom-client at scrape time instead. Gauges
 * (in flight, pool threads, consumer pending and redelivered) are read at scrape time too; the
 * consumer figures come from JetStream and are cached for a second so a scrape storm costs nothing.
 */
import { jetstreamManager, type ConsumerInfo, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { DEAD_LETTER_NOT_STORED } from './invocation-event.ts'
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client'
import { consumerName } from '../nats/ensure-consumer.ts'
import type { InvocationEvent, InvocationObserver } from './invocation-event.ts'

/** Upper bounds of `jetfn_invocation_duration_seconds`, in seconds: 1 ms to 5 min. */
export const DURATION_BUCKETS_S: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
const BOUNDS_MS = Float64Array.from(DURATION_BUCKETS_S, (s) => s * 1000)

/** How long consumer info read from JetStream is reused, ms. */
const CONSUMER_INFO_TTL_MS = 1_000
/** How long a scrape waits for consumer info, ms: a scrape must answer while the server is gone. */
const CONSUMER_INFO_TIMEOUT_MS = 1_000

/** What the metrics read from a running replica at scrape time (a `Replica` is one). */
export interface MetricsSource {
  readonly nc: NatsConnection
  /** Functions the replica runs. */
  readonly functions: string[]
  /** The version new deliveries of a function go to (its stream is what matters here). */
  running(name: string): { stream: string } | undefined
  /** Messages of a function this replica holds: running, queued or being settled. */
  held(name: string): number
  /** Pool threads, and how many run at least one batch; undefined before the pool exists. */
  readonly poolThreads: { total: number; busy: number } | undefined
  /** Why a function's dead letters cannot be stored now; undefined when they can. */
  deadLetterProblem?(name: string): string | undefined
}

/** Totals of one function since the replica started. */
interface FnTotals {
  ok: number
  retried: number
  deadLettered: number
  /** Dead letters published, by `Fn-Error-Kind`. */
  dlq: Map<string, number>
  /** Dead letters the DLQ did not take (the message was kept and tried again later). */
  dlqBlocked: number
  /** Per-bucket (not cumulative) counts; the last slot is `+Inf`. */
  buckets: Float64Array
  count: number
  sumMs: number
}

/** A function's totals in this replica, as {@link ReplicaMetrics.totals} reads them. */
export interface FunctionTotals {
  ok: number
  retried: number
  deadLettered: number
  /** Invocations that ran a handler, and their total run time, ms. */
  count: number
  sumMs: number
  /** Per-bucket counts of run times; bounds are {@link DURATION_BUCKETS_S}, the last slot is `+Inf`. */
  buckets: Float64Array
}

/** Options of {@link ReplicaMetrics}. */
export interface ReplicaMetricsOptions {
  log: Logger
  /** Also collect prom-client's default process and Node.js metrics. Default true. */
  processMetrics?: boolean
}

export class ReplicaMetrics implements InvocationObserver {
  /** The registry `/metrics` renders. */
  readonly registry = new Registry()
  readonly #log: Logger
  readonly #totals = new Map<string, FnTotals>()
  #source: MetricsSource | undefined
  #jsm: Promise<JetStreamManager> | undefined
  #consumers: { at: number; infos: Promise<Map<string, ConsumerInfo>> } | undefined
  #reconnects = 0

  constructor(opts: ReplicaMetricsOptions) {
    this.#log = opts.log
    const registers = [this.registry]
    const totals = this.#totals
    const self = this
    new Counter({
      name: 'jetfn_invocations_total',
      help: 'Settled invocations by function and outcome (ok, retried, dead-lettered).',
      labelNames: ['fn', 'outcome'],
      registers,
      collect() {
        this.reset()
        for (const [fn, t] of totals) {
          this.inc({ fn, outcome: 'ok' }, t.ok)
          this.inc({ fn, outcome: 'retried' }, t.retried)
          this.inc({ fn, outcome: 'dead-lettered' }, t.deadLettered)
        }
      },
    })
    new Counter({
      name: 'jetfn_dlq_published_total',
      help: 'Messages dead-lettered (confirmed by JetStream) by function and error kind.',
      labelNames: ['fn', 'error_kind'],
      registers,
      collect() {
        this.reset()
        for (const [fn, t] of totals) for (const [kind, n] of t.dlq) this.inc({ fn, error_kind: kind }, n)
      },
    })
    new Counter({
      name: 'jetfn_dlq_blocked_total',
      help: 'Dead letters the DLQ did not store (missing, full, not permitted): the message was kept unterminated and tried again later.',
      labelNames: ['fn'],
      registers,
      collect() {
        this.reset()
        for (const [fn, t] of totals) if (t.dlqBlocked > 0) this.inc({ fn }, t.dlqBlocked)
      },
    })
    new Gauge({
      name: 'jetfn_dlq_failing',
      help: '1 while the last dead letter of the function could not be stored, 0 once one is stored again.',
      labelNames: ['fn'],
      registers,
      collect() {
        this.reset()
        const s = self.#source
        if (s) for (const fn of s.functions) this.set({ fn }, s.deadLetterProblem?.(fn) === undefined ? 0 : 1)
      },
    })
    this.registry.registerMetric(durationHistogram(totals) as unknown as Metric)
    new Gauge({
      name: 'jetfn_in_flight',
      help: 'Messages this replica holds per function: running, queued or being settled.',
      labelNames: ['fn'],
      registers,
      collect() {
        this.reset()
        const s = self.#source
        if (s) for (const fn of s.functions) this.set({ fn }, s.held(fn))
      },
    })
    for (const [name, help, field] of [
      ['jetfn_consumer_pending', 'Messages of the function not yet delivered (consumer num_pending), read from JetStream at most once a second.', 'num_pending'],
      ['jetfn_consumer_redelivered', 'Messages of the function delivered more than once and not yet acked (consumer num_redelivered).', 'num_redelivered'],
    ] as const) {
      new Gauge({
        name,
        help,
        labelNames: ['fn'],
        registers,
        async collect() {
          const infos = await self.#consumerInfos()
          this.reset()
          for (const [fn, info] of infos) this.set({ fn }, info[field])
        },
      })
    }
    new Gauge({
      name: 'jetfn_pool_threads',
      help: 'Worker threads in the pool.',
      registers,
      collect() {
        this.set(self.#source?.poolThreads?.total ?? 0)
      },
    })
    new Gauge({
      name: 'jetfn_pool_threads_busy',
      help: 'Worker threads running at least one batch.',
      registers,
      collect() {
        this.set(self.#source?.poolThreads?.busy ?? 0)
      },
    })
    new Counter({
      name: 'jetfn_nats_reconnects_total',
      help: 'Times the replica reconnected to NATS.',
      registers,
      collect() {
        this.reset()
        this.inc(self.#reconnects)
      },
    })
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry })
  }

  /** Content type of {@link render}'s text. */
  get contentType(): string {
    return this.registry.contentType
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics()
  }

  /**
   * Starts reading gauges from a started replica and counting its reconnects. Call once, after
   * the replica has started (it needs the connection).
   */
  attach(source: MetricsSource): void {
    this.#source = source
    const nc = source.nc
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'reconnect') this.#reconnects++
    })().catch((err: unknown) => this.#log.error({ err }, 'metrics: connection status watch ended'))
  }

  settled(e: InvocationEvent): void {
    let t = this.#totals.get(e.fn)
    if (t === undefined) {
      t = { ok: 0, retried: 0, deadLettered: 0, dlq: new Map(), dlqBlocked: 0, buckets: new Float64Array(BOUNDS_MS.length + 1), count: 0, sumMs: 0 }
      this.#totals.set(e.fn, t)
    }
    if (e.outcome === 'ok') t.ok++
    else if (e.outcome === 'retried') {
      t.retried++
      if (e.error?.startsWith(`${DEAD_LETTER_NOT_STORED}:`)) t.dlqBlocked++
    }
    else {
      t.deadLettered++
      // The consumer reports `dead-lettered` only once JetStream has confirmed the DLQ publish.
      const kind = e.errorKind ?? 'error'
      t.dlq.set(kind, (t.dlq.get(kind) ?? 0) + 1)
    }
    const ms = e.durationMs
    if (ms !== undefined) {
      let i = 0
      while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]!) i++
      t.buckets[i]!++
      t.count++
      t.sumMs += ms
    }
  }

  logs(): void {
    // Log lines are not metrics.
  }

  /** What this replica settled of a function since it started (undefined before its first message). */
  totals(fn: string): FunctionTotals | undefined {
    const t = this.#totals.get(fn)
    if (!t) return undefined
    return { ok: t.ok, retried: t.retried, deadLettered: t.deadLettered, count: t.count, sumMs: t.sumMs, buckets: t.buckets.slice() }
  }

  /** Consumer info of every function the replica runs, at most {@link CONSUMER_INFO_TTL_MS} old. */
  #consumerInfos(): Promise<Map<string, ConsumerInfo>> {
    const now = Date.now()
    if (this.#consumers && now - this.#consumers.at < CONSUMER_INFO_TTL_MS) return this.#consumers.infos
    const infos = this.#readConsumerInfos()
    this.#consumers = { at: now, infos }
    return infos
  }

  async #readConsumerInfos(): Promise<Map<string, ConsumerInfo>> {
    const out = new Map<string, ConsumerInfo>()
    const s = this.#source
    if (!s || s.nc.isClosed()) return out
    try {
      // A manager of our own with a short timeout: a scrape must answer while the server is gone.
      this.#jsm ??= jetstreamManager(s.nc, { timeout: CONSUMER_INFO_TIMEOUT_MS, checkAPI: false })
      const jsm = await this.#jsm
      await Promise.all(
        s.functions.map(async (fn) => {
          const stream = s.running(fn)?.stream
          if (stream === undefined) return
          try {
            out.set(fn, await jsm.consumers.info(stream, consumerName(fn)))
          } catch (err) {
            // The series is left out for this scrape: no figure is better than a stale one.
            this.#log.debug({ err, fn }, 'metrics: consumer info unavailable')
          }
        }),
      )
    } catch (err) {
      this.#jsm = undefined
      this.#log.warn({ err }, 'metrics: cannot read consumer info')
    }
    return out
  }
}

/**
 * `jetfn_invocation_duration_seconds{fn}` as a metric object that prom-client's registry renders:
 * the buckets are counted by {@link ReplicaMetrics.settled}, and prom-client's `Histogram` has no
 * way to take counts already bucketed.
 */
function durationHistogram(totals: Map<string, FnTotals>) {
  const name = 'jetfn_invocation_duration_seconds'
  const help = 'Handler run time of settled invocations, seconds.'
  return {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = []
      for (const [fn, t] of totals) {
        let cumulative = 0
        for (let i = 0; i < DURATION_BUCKETS_S.length; i++) {
          cumulative += t.buckets[i]!
          values.push({ metricName: `${name}_bucket`, labels: { fn, le: DURATION_BUCKETS_S[i]! }, value: cumulative })
        }
        values.push({ metricName: `${name}_bucket`, labels: { fn, le: '+Inf' }, value: t.count })
        values.push({ metricName: `${name}_sum`, labels: { fn }, value: t.sumMs / 1000 })
        values.push({ metricName: `${name}_count`, labels: { fn }, value: t.count })
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' }
    },
  }
}
