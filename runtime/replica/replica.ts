/**
 * A replica: one NATS connection, one worker pool, and one {@link FunctionConsumer} per deployed
 * function. It coordinates them; it does not contain them. Lifecycle:
 * `idle → starting → running → draining → stopped | failed`.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { ResolvedConfig } from '../config/config-schema.ts'
import { FunctionConsumer, type RunnableFunction } from '../consumer/function-consumer.ts'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { closeConnection } from '../nats/close-connection.ts'
import { connectNats } from '../nats/connect.ts'
import { consumerName } from '../nats/ensure-consumer.ts'
import { ensureStream, isNotFound } from '../nats/ensure-stream.ts'
import { ROLE_INBOX_PREFIX } from '../auth/roles.ts'
import { ConsumerBinding } from './consumer-binding.ts'
import { ReplayRunner } from './replay-runner.ts'
import type { ReplayRun } from '../deploy/manifest.ts'
import { watchConnection } from './watch-connection.ts'
import { handlerEnv } from '../pool/worker-env.ts'
import { WorkerPool } from '../pool/worker-pool.ts'
import { natsEventPublisher, type EventPublisher } from '../observe/event-publisher.ts'
import { observeAll, type InvocationObserver } from '../observe/invocation-event.ts'
import { hostname } from 'node:os'
import { DeadLetterPayloads } from '../dlq/dead-letter-payloads.ts'
import { logUnsettled, type HeldAtStop } from './unsettled-report.ts'
import { dlqReplicas, dlqStreamSpec } from '../dlq/dlq-stream.ts'
import { ownReplicas } from '../nats/own-replicas.ts'
import { SharedRates } from '../rate/shared-rate.ts'
import type { AttemptTracing } from '../settle/attempt-tracing.ts'
import { hasFeature } from '../nats/server-features.ts'
import { ensureSchedulesStream } from '../schedule/schedules-stream.ts'
import { DelayedRelay } from '../schedule/delayed-relay.ts'

/** How often each consumer's ack floor is read, ms: a lost consumer replays at most this much. */
const ACK_FLOOR_REFRESH_MS = 10_000

/** How long handlers whose signal aborted at the end of the shutdown grace have to return, ms. */
const ABORTED_HANDLER_GRACE_MS = 1_000

export type ReplicaState = 'idle' | 'starting' | 'running' | 'draining' | 'stopped' | 'failed'

/** Options of {@link Replica}. */
export interface ReplicaOptions {
  config: ResolvedConfig
  log: Logger
  /** Use this connection instead of connecting; the replica then leaves it open on stop. */
  nc?: NatsConnection
  /** How worker threads log. */
  workerLog?: { level?: string; pretty?: boolean }
  /**
   * Asked before a consumer the server lost is recreated: a function removed meanwhile (`fn rm`
   * deletes its consumer), or moved to another stream (another replica removed the old consumer),
   * must stay so. Default: always recreate.
   */
  stillDeployed?: (name: string, stream: string) => Promise<boolean>
  /** Extra observers of settled invocations (metrics); events go to NATS regardless. */
  observers?: InvocationObserver[]
  /** Set when tracing is on: outputs carry each attempt's trace context (the tracer is also one of `observers`). */
  tracing?: AttemptTracing | undefined
}

export class Replica {
  readonly #o: ReplicaOptions
  readonly #log: Logger
  readonly #consumers = new Map<string, FunctionConsumer>()
  #state: ReplicaState = 'idle'
  #nc: NatsConnection | undefined
  #js: JetStreamClient | undefined
  #jsm: JetStreamManager | undefined
  #pool: WorkerPool | undefined
  #stopping: Promise<void> | undefined
  #disconnected = false
  #observer: InvocationObserver | undefined
  #events: EventPublisher | undefined
  #payloads: DeadLetterPayloads | undefined
  #rates: SharedRates | undefined
  #binding: ConsumerBinding | undefined
  #replays: ReplayRunner | undefined
  #relay: DelayedRelay | undefined
  /** Why the server refuses the replica's credentials, while it does. */
  #credentialsRefused: string | undefined
  /** Per function: the consumer's ack floor last seen (where a lost consumer is recreated). */
  readonly #ackFloors = new Map<string, number>()
  #floorTimer: NodeJS.Timeout | undefined
  /** `host:pid`: names this replica in events and metrics. */
  readonly id = `${hostname()}:${process.pid}`

  constructor(opts: ReplicaOptions) {
    this.#o = opts
    this.#log = opts.log.child({ component: 'replica' })
  }

  get state(): ReplicaState {
    return this.#state
  }

  get jsm(): JetStreamManager {
    return this.#require('jsm', this.#jsm)
  }

  get nc(): NatsConnection {
    return this.#require('nc', this.#nc)
  }

  /** Why the replica is not ready to serve (empty when it is): for `/readyz`. */
  readiness(): string[] {
    const problems: string[] = []
    if (this.#state !== 'running') problems.push(`replica is ${this.#state}`)
    if (this.#disconnected) problems.push(this.#credentialsRefused ? `not connected to NATS: the server refuses this replica's credentials (${this.#credentialsRefused})` : 'not connected to NATS')
    problems.push(...(this.#binding?.problems() ?? []))
    for (const [name, c] of this.#consumers) {
      if (c.state !== 'running') problems.push(`consumer of ${name} is ${c.state}`)
      const dlq = c.deadLetterProblem
      if (dlq !== undefined) problems.push(`dead letters of ${name} cannot be stored in ${this.#o.config.dlq.stream}: ${dlq}`)
    }
    return problems
  }

  /** Why a function's dead letters cannot be stored now; undefined when they can (or it does not run here). */
  deadLetterProblem(name: string): string | undefined {
    return this.#consumers.get(name)?.deadLetterProblem
  }

  /** Names of the functions this replica runs. */
  get functions(): string[] {
    return [...this.#consumers.keys()]
  }

  /**
   * Connects, ensures the configured streams and the DLQ (a bind-only replica only checks that
   * the DLQ exists), and starts the worker pool.
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new FnError(FnErrorCode.InvalidState, `replica cannot start: it is ${this.#state}`)
    this.#transition('starting')
    try {
      const { config } = this.#o
      const provision = config.provision
      this.#nc = this.#o.nc ?? (await connectNats(config.nats, { name: 'jetfn replica', inboxPrefix: ROLE_INBOX_PREFIX.replica, retryRefusedCredentials: true }))
      this.#payloads = new DeadLetterPayloads(this.#nc, { replicas: dlqReplicas(config, this.#nc.info), provision })
      this.#rates = new SharedRates(this.#nc, { create: provision, replicas: ownReplicas(this.#nc.info, config.jetfn.replicas) })
      this.#jsm = await jetstreamManager(this.#nc)
      this.#js = jetstream(this.#nc)
      this.#binding = new ConsumerBinding({ jsm: () => this.jsm, provision })
      this.#replays = new ReplayRunner({
        log: this.#log,
        jsm: () => this.jsm,
        graceMs: config.shutdownGraceMs,
        // A replay's consumer that is gone is not recreated: the replay is over (or removed).
        consumer: (fn, run) => this.#newConsumer(fn, run.consumer, async () => {}, { id: run.id, throughSeq: run.throughSeq }),
      })
      if (provision) {
        for (const stream of config.streams) await ensureStream(this.#jsm, stream, this.#log)
        await ensureStream(this.#jsm, dlqStreamSpec(config, this.#nc.info), this.#log, { own: true })
        if (hasFeature('delayed messages', this.#nc.info?.version)) await ensureSchedulesStream(this.#jsm, ownReplicas(this.#nc.info, config.jetfn.replicas), this.#log)
      } else {
        await this.#checkDlq(config.dlq.stream)
      }
      const { env, withheld } = handlerEnv(config)
      const poolLog = this.#o.log.child({ component: 'pool' })
      if (withheld.length > 0) poolLog.info({ withheld }, "variables matched by pool.env kept from handlers: they hold the replica's NATS credentials")
      this.#pool = new WorkerPool({
        threads: config.pool.threads,
        maxOldGenerationSizeMb: config.pool.maxOldGenerationSizeMb,
        log: poolLog,
        workerLog: this.#o.workerLog ?? {},
        env,
        ...(this.#nc.info?.max_payload ? { maxPayload: this.#nc.info.max_payload } : {}),
      })
      // Delayed outputs and debounced runs that are due go to their subjects from every replica.
      if (hasFeature('delayed messages', this.#nc.info?.version)) {
        this.#relay = new DelayedRelay({ js: this.#js, log: this.#log })
        this.#relay.start()
      }
      this.#events = natsEventPublisher(this.#nc, this.id, this.#log)
      this.#observer = observeAll([this.#events, ...(this.#o.observers ?? [])])
      watchConnection(this.#nc, this.#log, {
        disconnected: () => (this.#disconnected = true),
        credentialsRefused: (reason) => (this.#credentialsRefused = reason),
        reconnected: () => {
          this.#disconnected = false
          this.#credentialsRefused = undefined
          for (const c of this.#consumers.values()) c.resetPull('reconnected')
          this.#replays?.resetPulls('reconnected')
        },
      })
      // The ack floors a lost consumer would be recreated after stay recent (best effort).
      this.#floorTimer = setInterval(() => {
        for (const c of this.#consumers.values()) void this.#refreshAckFloor(c.fn)
        void this.#replays?.check()
      }, ACK_FLOOR_REFRESH_MS)
      this.#floorTimer.unref()
      this.#transition('running')
    } catch (err) {
      this.#transition('failed')
      // A connection left open would keep the process up (and reconnecting) after a failed start.
      if (this.#nc && !this.#o.nc && !this.#nc.isClosed()) await this.#nc.close().catch((e: unknown) => this.#log.warn({ err: e }, 'connection did not close after a failed start'))
      throw err
    }
  }

  /** Messages of a function this replica holds (running, queued or being settled); 0 if it does not run it. */
  held(name: string): number {
    return this.#consumers.get(name)?.held ?? 0
  }

  /** Worker threads, and how many run at least one batch; undefined before the pool exists. */
  get poolThreads(): { total: number; busy: number } | undefined {
    const pool = this.#pool
    return pool && { total: pool.threads, busy: pool.busyThreads }
  }

  /**
   * Starts the consumer of a function, or moves it to a new version with whatever options that
   * version has: the durable consumer is updated first, then the running consumer applies the
   * rest (pull sizes, keep-alive, retry) at once. A version on another stream is a new consumer:
   * the old one drains (running messages finish) and is removed, the new one starts at the
   * function's `startFrom`.
   */
  async deploy(fn: RunnableFunction): Promise<void> {
    if (this.#state !== 'running') throw new FnError(FnErrorCode.InvalidState, `cannot deploy ${fn.name}: the replica is ${this.#state}`)
    const log = this.#fnLog(fn)
    const existing = this.#consumers.get(fn.name)
    const binding = this.#require('binding', this.#binding)
    if (existing && existing.fn.stream !== fn.stream) {
      const from = existing.fn.stream
      this.#consumers.delete(fn.name)
      await existing.drain(this.#o.config.shutdownGraceMs)
      await binding.retire(fn.name, from)
      log.info({ from, to: fn.stream }, binding.provision ? 'function moved to another stream: old consumer drained and removed' : 'function moved to another stream: old consumer drained (fn deploy removes it)')
    }
    this.#ackFloors.set(fn.name, await binding.prepare(fn, log))
    const running = this.#consumers.get(fn.name)
    if (running) {
      running.update(fn)
      log.info('function updated')
      return
    }
    const consumer = this.#newConsumer(fn, consumerName(fn.name), async (current) => {
      const clog = this.#fnLog(current)
      // Replaced meanwhile (moved to another stream): the new consumer is another object.
      if (this.#consumers.get(current.name) !== consumer) return
      if (this.#o.stillDeployed && !(await this.#o.stillDeployed(current.name, current.stream))) {
        clog.info('consumer gone and function removed (or moved to another stream): not recreating it')
        if (this.#consumers.get(current.name) === consumer) await this.remove(current.name)
        return
      }
      if (this.#consumers.get(current.name) !== consumer) return
      // Recreated where it was (after its last ack floor seen), never from the stream's start;
      // a bind-only replica waits for `fn deploy` to do that.
      const floor = await this.#refreshAckFloor(current)
      await binding.recover(current, floor, clog)
    })
    this.#consumers.set(fn.name, consumer)
    consumer.start()
  }

  /** A consumer of this replica's pool and connection: a function's own, or a replay's. */
  #newConsumer(fn: RunnableFunction, name: string, ensure: (fn: RunnableFunction) => Promise<void>, replay?: { id: string; throughSeq: number }): FunctionConsumer {
    return new FunctionConsumer({
      nc: this.nc,
      js: this.#require('js', this.#js),
      pool: this.#require('pool', this.#pool),
      fn,
      consumer: name,
      log: (current) => (replay ? this.#fnLog(current).child({ replay: replay.id }) : this.#fnLog(current)),
      observer: this.#require('observer', this.#observer),
      replicaId: this.id,
      payloads: this.#require('payloads', this.#payloads),
      takeTokens: (n, want, rate) => this.#require('rates', this.#rates).take(n, want, rate),
      ensureConsumer: ensure,
      replay,
      tracing: this.#o.tracing,
    })
  }

  /**
   * Runs exactly these replays (`fn replay`) of a running function, on the version it runs:
   * started, updated or stopped as needed. Called on every registry change of the function.
   */
  async replay(name: string, runs: readonly ReplayRun[]): Promise<void> {
    const fn = this.#consumers.get(name)?.fn
    if (fn) await this.#require('replays', this.#replays).sync(fn, runs)
    else await this.#replays?.stopFunction(name)
  }

  /** The ack floor of a function's consumer, read now if it can be, else the last one seen. */
  async #refreshAckFloor(fn: RunnableFunction): Promise<number | undefined> {
    try {
      const info = await this.jsm.consumers.info(fn.stream, consumerName(fn.name))
      this.#ackFloors.set(fn.name, info.ack_floor.stream_seq)
    } catch (err) {
      if (!isNotFound(err)) this.#log.warn({ err, fn: fn.name }, 'cannot read the consumer: using the last ack floor seen')
    }
    return this.#ackFloors.get(fn.name)
  }

  #fnLog(fn: RunnableFunction): Logger {
    return this.#o.log.child({ fn: fn.name, version: fn.version.slice(0, 12) })
  }

  /** The version of a function this replica routes new deliveries to, if it runs it. */
  running(name: string): RunnableFunction | undefined {
    return this.#consumers.get(name)?.fn
  }

  /** Loads a function's bundle in a worker thread; rejects with the reason it cannot be loaded. */
  async preload(fn: RunnableFunction): Promise<void> {
    await this.#require('pool', this.#pool).preload(fn)
  }

  /**
   * Stops running a function: no more fetches, running messages finish within the shutdown
   * grace, the rest is handed back. The durable consumer itself is left to `fn rm`.
   */
  async remove(name: string): Promise<void> {
    const consumer = this.#consumers.get(name)
    if (!consumer) return
    this.#consumers.delete(name)
    this.#ackFloors.delete(name)
    this.#binding?.forget(name)
    await this.#replays?.stopFunction(name)
    await consumer.drain(this.#o.config.shutdownGraceMs)
    this.#log.info({ fn: name }, 'function removed')
  }

  /**
   * Stops: no new fetches, in-flight work finishes within `graceMs`, what is left is handed back
   * at once, the pool closes, and the connection drains. Runs once; later calls return the same
   * promise. Each step is caught and logged so that one failing step does not skip the rest.
   */
  stop(graceMs = this.#o.config.shutdownGraceMs): Promise<void> {
    this.#stopping ??= this.#stop(graceMs)
    return this.#stopping
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.#state === 'idle') {
      this.#transition('stopped')
      return
    }
    this.#transition('draining')
    clearInterval(this.#floorTimer)
    const step = async (name: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn()
      } catch (err) {
        this.#log.error({ err, step: name }, 'shutdown step failed')
      }
    }
    const heldAtStop: HeldAtStop[] = [...[...this.#consumers].map(([fn, c]) => ({ fn, stream: c.fn.stream, seqs: c.heldSeqs() })), ...(this.#replays?.held() ?? [])]
    await step('drain consumers', async () => {
      // Past the grace, running handlers' ctx.signal aborts; they get a moment to return first.
      const abort = setTimeout(() => this.#pool?.shutdown.send(`the replica is shutting down: its shutdown grace of ${graceMs} ms is over`), graceMs)
      try {
        await Promise.all([...[...this.#consumers.values()].map((c) => c.drain(graceMs + ABORTED_HANDLER_GRACE_MS)), this.#replays?.stopAll()])
      } finally {
        clearTimeout(abort)
      }
    })
    await step('stop delayed relay', async () => {
      await this.#relay?.stop()
    })
    await step('close pool', async () => {
      await this.#pool?.destroy()
      this.#pool?.shutdown.close()
    })
    this.#events?.close()
    if (this.#disconnected) logUnsettled(heldAtStop, this.#log)
    await step('drain connection', async () => {
      if (this.#nc && !this.#o.nc && !this.#nc.isClosed()) await closeConnection(this.#nc, { disconnected: this.#disconnected, log: this.#log })
    })
    this.#transition('stopped')
  }

  /** Bind-only: the DLQ is `fn deploy`'s to create; a replica only says, once, when it is missing. */
  async #checkDlq(stream: string): Promise<void> {
    try {
      await this.jsm.streams.info(stream)
    } catch (err) {
      if (!isNotFound(err)) throw err
      this.#log.warn({ stream }, 'the DLQ stream does not exist and this replica is bind-only: dead letters wait (unterminated) until `fn deploy` creates it')
    }
  }

  #transition(to: ReplicaState): void {
    this.#log.info({ from: this.#state, to }, 'replica state')
    this.#state = to
  }

  #require<T>(what: string, value: T | undefined): T {
    if (value === undefined) throw new FnError(FnErrorCode.InvalidState, `replica has no ${what}: it is ${this.#state}`)
    return value
  }
}

