/**
 * Runs one deployed function in this replica: its pull loop, the messages it holds, their
 * dispatch to the shared pool in batches, and the settling of each by its outcome.
 *
 * Bounds: at most `concurrency` messages run at once; at most `concurrency + prefetch` are held
 * (running, queued or being settled) or asked for; the prefetch grows for a fast function (see
 * `holdLimits`). Every held message gets `working()` often
 * enough that `ack_wait` never expires while it is held, so a prefetched message is never
 * redelivered elsewhere behind this replica's back. Policy lives in small modules (`flow-plan.ts`,
 * `ack-batcher.ts`, `rate-gate.ts`, `settle/settle-outcome.ts`); this class holds messages and runs
 * the lifecycle, and `update()` rebuilds whatever depends on the function's options.
 */
import type { Msg, Subscription } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { invocationEvent, type InvocationEvent } from '../observe/invocation-event.ts'
import type { PoolOutcome } from '../pool/worker-pool.ts'
import type { ErrorKind, WireError } from '../pool/protocol.ts'
import type { RunnableFunction } from '../function/runnable-function.ts'
import { DeadLettering } from '../settle/dead-lettering.ts'
import { parseAckSubjectInto } from '../settle/delivery.ts'
import { settleOutcome, type SettlePorts } from '../settle/settle-outcome.ts'
import { Settler } from '../settle/settler.ts'
import { AckBatcher } from './ack-batcher.ts'
import { Dispatcher } from './dispatcher.ts'
import { gateFor, type RateGate } from './rate-gate.ts'
import type { FunctionConsumerOptions } from './function-consumer-options.ts'
import { holdLimits, keepAliveMs, type FunctionPace } from './flow-plan.ts'
import { watchMaxDeliveries } from './max-deliveries-watch.ts'
import { PullLoop } from './pull-loop.ts'
import { toHeld, type Held } from './held-message.ts'
import { HeldSet } from './held-set.ts'
import { KeyedQueue } from './keyed-queue.ts'
import { KeyOwnership } from './key-ownership.ts'
import { headerValue } from './read-headers.ts'
import { keyOf } from '../keys/key-spec.ts'
import { pinTimeoutMs } from '../nats/ensure-consumer.ts'
import { KeyingStage } from './keying-stage.ts'
import { routeDelivery, type RouteContext } from './route-delivery.ts'

export type { RunnableFunction } from '../function/runnable-function.ts'
export type { FunctionConsumerOptions } from './function-consumer-options.ts'

export type ConsumerState = 'idle' | 'running' | 'draining' | 'stopped' | 'failed'

/** A keyed function's queue by key, and this replica's ownership of the function. */
interface Keying {
  queue: KeyedQueue<Held>
  owner: KeyOwnership
}

/** Weight of each handler run in the function's pace (see FunctionConsumer.#paced). */
const PACE_WEIGHT = 1 / 64

/** The header a pinned consumer's deliveries carry: the pin of the replica they went to. */
const PIN_HEADER = 'Nats-Pin-Id'

export class FunctionConsumer {
  readonly #o: FunctionConsumerOptions
  readonly #settler: Settler
  readonly #pull: PullLoop
  readonly #acks: AckBatcher<Held>
  readonly #dead: DeadLettering
  readonly #held: HeldSet<Held>
  #log: Logger
  readonly #dispatcher: Dispatcher
  #gate: RateGate | undefined
  #fn: RunnableFunction
  #state: ConsumerState = 'idle'
  #lastSubject = ''
  /** The function's pace in this replica (moving means), once a handler has run; sizes the prefetch. */
  #pace: FunctionPace | undefined
  #advisories: Subscription | undefined
  /** Messages whose key the function's key function computes in the pool, in arrival order. */
  readonly #keying: KeyingStage
  /** Set while the function is keyed: its queue by key, and this replica's ownership of it. */
  #keyed: Keying | undefined
  readonly #routeContext: RouteContext = { running: false, fn: '', retry: { maxDeliver: 1, backoffMs: [], jitter: 0 }, blocked: undefined, throughSeq: undefined }

  constructor(opts: FunctionConsumerOptions) {
    this.#o = opts
    this.#fn = opts.fn
    this.#log = opts.log(opts.fn)
    this.#settler = new Settler({ nc: opts.nc, js: opts.js, fn: opts.fn.name, log: this.#log, payloads: opts.payloads, replayId: opts.replay?.id, tracing: opts.tracing })
    this.#routeContext.throughSeq = opts.replay?.throughSeq
    this.#held = new HeldSet((d) => this.#settler.working(d))
    this.#acks = new AckBatcher((group) => {
      void this.#settler.ack(group).finally(() => {
        for (const g of group) this.#emit(g, 'ok')
        this.#forget(group)
      })
    }, () => this.#fn.concurrency)
    this.#dead = new DeadLettering({
      settler: this.#settler,
      log: () => this.#log,
      retry: () => this.#fn.retry,
      onProblem: opts.onDeadLetterBlocked,
      settled: (d, outcome, errorKind, error, delayMs) => this.#emit(d as Held, outcome, errorKind, error, delayMs),
    })
    this.#dispatcher = new Dispatcher({
      pool: opts.pool,
      fn: () => this.#fn,
      running: () => this.#state === 'running',
      gate: () => this.#gate,
      maxBatch: opts.maxBatch,
      pace: () => this.#pace,
      ok: (d, fn, durationMs) => this.#onOk(d, fn, durationMs),
      outcome: (d, fn, outcome) => this.#onOutcome(d, fn, outcome),
    })
    this.#gate = gateFor(undefined, opts.fn, opts.takeTokens, () => this.#dispatcher.schedule(), this.#log)
    this.#keying = new KeyingStage({
      pool: opts.pool,
      fn: () => this.#fn,
      // Keyed after this replica lost the pin: it is the new owner's to run.
      keyed: (d) => (this.#pull.pin === undefined ? this.#release(d) : this.#dispatcher.push(d)),
      failed: (d, outcome) => {
        if (outcome.kind === 'dead') this.#deadLetter(d, outcome.errorKind, outcome.error)
        else this.#release(d)
      },
    })
    this.#pull = new PullLoop({
      nc: opts.nc,
      stream: opts.fn.stream,
      consumer: opts.consumer,
      log: this.#log,
      // Keyed: messages waiting for their key do not take room, or a takeover's suspects could
      // never come back through a full replica (the consumer's max_ack_pending bounds them).
      capacity: () => holdLimits(this.#fn.concurrency, this.#pace).limit - this.#held.size + (this.#keyed ? this.#keyed.queue.size - this.#keyed.queue.ready(this.#keyed.queue.size) : 0),
      minPull: () => holdLimits(this.#fn.concurrency, this.#pace).minPull,
      pinned: () => (this.#fn.keyed ? { timeoutMs: pinTimeoutMs(this.#fn.ackWaitMs) } : undefined),
      onPinLost: () => this.#onPinLost(),
      onMessage: (msg) => this.#receive(msg),
      onStall: async () => {
        // A consumer that stopped (removed, moved to another stream) must not bring its old one back.
        if (this.#state === 'running' || this.#state === 'failed') await this.#o.ensureConsumer(this.#fn)
      },
    })
    this.#useKeying(opts.fn)
  }

  /** Queues by key while the function is keyed (it may become so, or stop being so, on a deploy). */
  #useKeying(fn: RunnableFunction): void {
    if (!fn.keyed) {
      if (this.#keyed) {
        this.#keyed.owner.close()
        this.#keyed.queue.close()
        this.#dispatcher.useKeyed(undefined)
        this.#keyed = undefined
      }
      return
    }
    if (this.#keyed) {
      this.#keyed.queue.configure(fn.keyed)
      return
    }
    const queue = new KeyedQueue<Held>(fn.keyed, () => this.#dispatcher.schedule())
    const owner = new KeyOwnership({
      nc: this.#o.nc,
      stream: fn.stream,
      consumer: this.#o.consumer,
      queue,
      held: () => this.#held.values(),
      // A key function's keys are not computed for a takeover: it waits for the server's count instead.
      keys: async (messages) => messages.map((m) => (this.#fn.keyed ? keyOf(this.#fn.keyed.key, m.subject, m.headers) : '')),
      changed: () => {
        this.#pull.poke()
        this.#dispatcher.schedule()
      },
      log: () => this.#log,
    })
    this.#keyed = { queue, owner }
    // Until this replica is pinned, nothing it holds may start (see KeyOwnership).
    queue.freeze(true)
    // Waiting messages of an unkeyed version: a key function's are grouped under the empty key.
    for (const d of this.#held.values()) if (d.key === undefined) d.key = keyOf(fn.keyed.key, d.subject, d.headers) ?? ''
    this.#dispatcher.useKeyed(queue)
  }

  /** Another replica owns the keyed function now: what waits here goes back to the server for it. */
  #onPinLost(): void {
    const k = this.#keyed
    if (!k) return
    k.owner.release()
    k.queue.freeze(true)
    for (const d of this.#dispatcher.takeQueued()) this.#release(d)
  }

  get state(): ConsumerState {
    return this.#state
  }

  /** The function version new deliveries run on. */
  get fn(): RunnableFunction {
    return this.#fn
  }

  /** Messages this replica holds for the function: running, queued or being settled. */
  get held(): number {
    return this.#held.size
  }

  /** Stream sequences of the messages held now (for the shutdown report). */
  heldSeqs(): number[] {
    return this.#held.values().map((d) => d.seq)
  }

  /** Why the function's dead letters cannot be stored now (the DLQ is missing, full, refused); undefined when they can. */
  get deadLetterProblem(): string | undefined {
    return this.#dead.problem
  }

  start(): void {
    if (this.#state !== 'idle') throw new Error(`consumer ${this.#o.consumer} cannot start: it is ${this.#state}`)
    this.#state = 'running'
    this.#pull.start()
    this.#held.keepAlive(keepAliveMs(this.#fn.ackWaitMs))
    this.#advisories = watchMaxDeliveries(this.#o.nc, this.#fn.stream, this.#o.consumer, this.#log)
    this.#log.info({ consumer: this.#o.consumer, stream: this.#fn.stream, concurrency: this.#fn.concurrency }, 'consumer running')
  }

  /**
   * Routes new deliveries to a new version; its options (pull sizes, concurrency, keep-alive, retry, timeouts) apply
   * at once, running messages finish on theirs. The stream stays: a move is a new consumer (see Replica).
   */
  update(fn: RunnableFunction): void {
    if (fn.stream !== this.#fn.stream) throw new Error(`consumer ${this.#o.consumer} cannot move from stream ${this.#fn.stream} to ${fn.stream}: start a new one`)
    this.#fn = fn
    this.#log = this.#o.log(fn)
    this.#gate = gateFor(this.#gate, fn, this.#o.takeTokens, () => this.#dispatcher.schedule(), this.#log)
    this.#useKeying(fn)
    if (this.#state === 'failed') {
      this.#state = 'running'
      this.#pull.start()
      this.#log.info('consumer resumed on a new version')
    }
    if (this.#state === 'running' && keepAliveMs(fn.ackWaitMs) !== this.#held.periodMs) this.#held.keepAlive(keepAliveMs(fn.ackWaitMs))
    this.#pull.poke()
    this.#dispatcher.schedule()
  }

  /** Its bundle failed to load in a worker after the preload: stop fetching, hand back what is queued, wait for a new version. */
  #fail(fn: RunnableFunction, reason: string): void {
    if (this.#state !== 'running' || fn.version !== this.#fn.version) return
    this.#state = 'failed'
    this.#pull.stop()
    for (const q of this.#dispatcher.takeQueued()) this.#release(q)
    this.#log.error({ reason }, 'function cannot be loaded here: consumer stopped until a new version is deployed')
  }

  #unpin(): void {
    try {
      this.#o.nc.publish(`$JS.API.CONSUMER.UNPIN.${this.#fn.stream}.${this.#o.consumer}`, JSON.stringify({ group: 'jetfn' }))
    } catch (err) {
      this.#log.debug({ err }, 'unpin not sent')
    }
  }

  /** After a reconnect: the server may have dropped open pulls. */
  resetPull(reason: string): void {
    this.#pull.reset(reason)
  }

  /**
   * Stops fetching, hands queued messages back, lets running ones finish within `graceMs`, then naks (no delay) what
   * still runs so another replica takes it now. The caller then closes the pool.
   */
  async drain(graceMs: number): Promise<void> {
    if (this.#state !== 'running' && this.#state !== 'failed') return
    this.#state = 'draining'
    const pin = this.#pull.pin
    this.#pull.stop()
    for (const d of this.#dispatcher.takeQueued()) this.#release(d)
    // Keep-alives continue while we wait, so that nothing running is redelivered meanwhile.
    try {
      if (!(await this.#held.waitEmpty(graceMs))) {
        this.#log.warn({ left: this.#held.size, graceMs }, 'shutdown grace over: handing unfinished messages back')
        this.#acks.flush()
        for (const d of this.#held.values()) if (!d.acking) this.#release(d)
      }
    } finally {
      this.#keyed?.owner.close()
      this.#keyed?.queue.close()
      // A keyed function's owner lets go at once: a standby replica takes over without waiting for the pin timeout.
      if (pin !== undefined) this.#unpin()
      this.#held.stopKeepAlive()
      this.#gate?.close()
      this.#acks.flush()
      this.#settler.close()
      this.#advisories?.unsubscribe()
      this.#state = 'stopped'
      this.#log.info({ consumer: this.#o.consumer }, 'consumer stopped')
    }
  }

  /**
   * Takes one delivery, on the client's socket reader: nothing here may throw (headers are read by `readHeaders`,
   * which never does; a message whose headers cannot be read is dead-lettered alone, kind `decode`).
   */
  #receive(msg: Msg): void {
    const d = toHeld(msg, this.#fn.stream, this.#lastSubject)
    this.#lastSubject = d.subject
    if (!parseAckSubjectInto(d.reply, d)) {
      this.#log.warn({ reply: d.reply }, 'delivery with an unreadable ack subject; left to redeliver')
      return
    }
    this.#held.add(d)
    // One context object, refilled per message: this runs for every delivery.
    const c = this.#routeContext
    c.running = this.#state === 'running'
    c.fn = this.#fn.name
    c.retry = this.#fn.retry
    c.blocked = this.#dead.blocked(d.seq)
    const route = routeDelivery(d, c)
    switch (route.to) {
      case 'release':
        return this.#release(d)
      case 'dead-letter':
        return this.#deadLetter(d, route.errorKind, route.error, route.version)
      case 'skip':
        // Not run, and not counted as a run; logged, since any publisher can set the header.
        if ('replayFor' in route) this.#log.info({ seq: d.seq, replayFor: route.replayFor }, "replay of another function's dead letter acked without running it")
        d.settling = true
        void this.#settler.ack([d]).finally(() => this.#forget([d]))
        return
      case 'queue':
        if (this.#keyed) this.#queueKeyed(d, this.#keyed)
        else this.#dispatcher.push(d)
    }
  }

  /** A keyed function's message: the pin it came with (a new one is a takeover), then its key. */
  #queueKeyed(d: Held, k: Keying): void {
    const pin = headerValue(d.headers, PIN_HEADER)
    if (pin !== undefined) {
      // The server's, not the publisher's: handlers and dead letters never see it.
      d.headers = d.headers!.filter(([name]) => name !== PIN_HEADER)
      if (d.headers.length === 0) d.headers = null
      if (pin !== this.#pull.pin) {
        this.#pull.pinnedAs(pin)
        k.owner.takeOver()
      }
    }
    const key = keyOf(this.#fn.keyed!.key, d.subject, d.headers)
    if (key === undefined) return this.#keying.push(d)
    d.key = key
    this.#dispatcher.push(d)
  }

  /** Moves the function's pace towards one more handler run (a mean over the last hundred or so). */
  #paced(d: Held, durationMs: number): void {
    const pace = this.#pace
    if (!pace) {
      this.#pace = { meanMs: durationMs, meanBytes: d.data.length }
      return
    }
    pace.meanMs += (durationMs - pace.meanMs) * PACE_WEIGHT
    pace.meanBytes += (d.data.length - pace.meanBytes) * PACE_WEIGHT
  }

  #onOk(d: Held, fn: RunnableFunction, durationMs: number): void {
    this.#paced(d, durationMs)
    d.version = fn.version
    d.durationMs = durationMs
    d.acking = true
    d.settling = true
    this.#acks.add(d)
  }

  #onOutcome(d: Held, fn: RunnableFunction, outcome: PoolOutcome): void {
    d.version = fn.version
    if (outcome.kind !== 'requeue') {
      if (outcome.logs) this.#o.observer?.logs(fn.name, outcome.logs)
      if (outcome.kind !== 'unloadable') d.durationMs = outcome.durationMs
    }
    if (outcome.kind === 'ok' && outcome.outputs.length === 0) return this.#onOk(d, fn, outcome.durationMs)
    if (outcome.kind !== 'requeue' && outcome.kind !== 'unloadable') this.#paced(d, outcome.durationMs)
    void this.#settle(d, outcome, fn)
  }

  /** What settling one outcome does, bound to this consumer and its current logger. */
  #ports(): SettlePorts {
    return {
      publishOutputs: (d, outputs) => this.#settler.publishOutputs(d, outputs),
      ack: (d) => {
        ;(d as Held).settling = true
        return this.#settler.ack([d])
      },
      nak: (d, delayMs) => {
        ;(d as Held).settling = true
        ;(d as Held).handedBack = true
        return this.#settler.nak(d, delayMs)
      },
      deadLetter: (d, errorKind, error) => {
        ;(d as Held).settling = true
        return this.#dead.deadLetter(d, errorKind, error, (d as Held).version ?? this.#fn.version, (d as Held).undecodable?.raw)
      },
      settled: (d, outcome, errorKind, error, delayMs) => this.#emit(d as Held, outcome, errorKind, error, delayMs),
      log: this.#log,
    }
  }

  async #settle(d: Held, outcome: PoolOutcome, fn: RunnableFunction): Promise<void> {
    try {
      if (outcome.kind === 'requeue') {
        this.#log.debug({ seq: d.seq, reason: outcome.reason }, 'message requeued without blame')
        return this.#state === 'running' ? this.#dispatcher.push(d, true) : this.#release(d)
      }
      if (outcome.kind === 'unloadable') {
        // Not the message's fault: hand it back (another replica may load it) and stop fetching.
        this.#release(d)
        return this.#fail(fn, `${outcome.error.name}: ${outcome.error.message}`)
      }
      await settleOutcome(d, outcome, fn.retry, this.#ports())
      this.#forget([d])
    } catch (err) {
      this.#log.error({ err, seq: d.seq }, 'settling failed; the message is redelivered after ack_wait')
      this.#forget([d])
    }
  }

  #deadLetter(d: Held, errorKind: ErrorKind, error: WireError, version = d.version ?? this.#fn.version): void {
    d.settling = true
    void this.#dead.deadLetter(d, errorKind, error, version, d.undecodable?.raw).finally(() => this.#forget([d]))
  }

  #emit(d: Held, outcome: InvocationEvent['outcome'], errorKind?: ErrorKind, error?: WireError, delayMs?: number): void {
    const observer = this.#o.observer
    if (!observer) return
    const version = d.version ?? this.#fn.version
    const event = invocationEvent({ fn: this.#fn.name, version, replica: this.#o.replicaId ?? '', delivery: d, outcome, errorKind, error, delayMs, durationMs: d.durationMs })
    try {
      observer.settled(event, d)
    } catch (err) {
      this.#log.warn({ err }, 'invocation observer failed')
    }
  }

  /** Hands a message back for immediate redelivery (to this or another replica). */
  #release(d: Held): void {
    d.settling = true
    d.handedBack = true
    this.#settler.nak(d, 0)
    this.#forget([d])
  }

  #forget(group: Held[]): void {
    const k = this.#keyed
    if (k) {
      for (const d of group) if (d.key !== undefined) k.queue.settled(d, d.handedBack ? 'pending' : 'done')
      // A key is free once its message has settled, which is after its outcome came back.
      this.#dispatcher.schedule()
    }
    this.#held.delete(group)
    if (this.#state === 'running') this.#pull.poke()
  }
}
