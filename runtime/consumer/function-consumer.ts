/**
 * Runs one deployed function in this replica: its pull loop, the messages it holds, their
 * dispatch to the shared pool in batches, and the settling of each by its outcome.
 *
 * Bounds: at most `concurrency` messages run at once; at most `concurrency + prefetch` are held
 * (running, queued or being settled) or asked for. Every held message gets `working()` often
 * enough that `ack_wait` never expires while it is held, so a prefetched message is never
 * redelivered elsewhere behind this replica's back.
 */
import type { JetStreamClient } from '@nats-io/jetstream'
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { PoolOutcome, WorkerPool } from '../pool/worker-pool.ts'
import { decide, isPastMaxDeliver } from '../settle/decide.ts'
import { deadLetterRetryDelayMs, type RetryPolicy } from '../settle/backoff.ts'
import type { DeadLetterPayloads } from '../dlq/dead-letter-payloads.ts'
import { guardCallback } from '../nats/guard-callback.ts'
import { REPLAY_FOR_HEADER } from '../dlq/replay-message.ts'
import { headerValue, readHeaders } from './read-headers.ts'
import { parseAckSubjectInto, type Delivery } from '../settle/delivery.ts'
import { Settler } from '../settle/settler.ts'
import { DEAD_LETTER_NOT_STORED, type InvocationEvent, type InvocationObserver } from '../observe/invocation-event.ts'
import type { ErrorKind, WireError } from '../pool/protocol.ts'
import { encodeBatch } from './encode-batch.ts'
import { PullLoop } from './pull-loop.ts'

/** A function as a replica runs it: resolved options plus where its code is. */
export interface RunnableFunction {
  name: string
  version: string
  subject: string
  stream: string
  bundlePath: string
  decode: 'json' | 'binary'
  concurrency: number
  timeoutMs: number
  timeoutGraceMs: number
  ackWaitMs: number
  retry: RetryPolicy
}

/** Options of {@link FunctionConsumer}. */
export interface FunctionConsumerOptions {
  nc: NatsConnection
  js: JetStreamClient
  pool: WorkerPool
  fn: RunnableFunction
  /** Durable consumer name (`fn_<name>`). */
  consumer: string
  log: Logger
  /** Recreates the durable consumer when the server has lost it. */
  ensureConsumer: () => Promise<void>
  /** Where dead letters too big for one message keep their payload (shared by the replica). */
  payloads: DeadLetterPayloads
  /** Told when a dead letter cannot be stored (`reason`) and when one is stored again (undefined). */
  onDeadLetterBlocked?: (reason: string | undefined) => void
  /** Largest batch handed to one thread. Default 256. */
  maxBatch?: number
  /** Told of every settled invocation and the handler's log lines. */
  observer?: InvocationObserver
  /** `host:pid` of this replica, for events. */
  replicaId?: string
}

/** How long one batch's synchronous work may hold a thread, ms; sets the batch size of CPU-bound functions (20 ms: 1.41k msg/s in the 1 ms CPU case; 50 ms: 1.6k, fewer thread hops and wake-ups). */
const BATCH_BLOCKING_MS = 50
/** Before a function's blocking time is known, dispatches of fewer messages per thread than this go to one thread. */
const MIN_SPLIT = 8
/** A dispatch is split over threads only with at least this much blocking work per thread, ms. */
const SPLIT_MIN_MS = 1
/** Acks confirmed as one group at most; how many go out at the end of the turn; how long fewer may wait, ms. */
const ACK_GROUP = 256
const ACK_SOON = 32
const ACK_DELAY_MS = 5

interface Held extends Delivery {
  lastSeenAt: number
  /** Handler run time, once its outcome is known. */
  durationMs?: number
  /** The version it ran on. */
  version?: string
  /** Succeeded: its ack is queued or on its way. */
  acking?: boolean
  /** Its headers could not be read: why, and the raw header block. */
  undecodable?: { reason: string; raw: Uint8Array } | undefined
}

/** The last failure of a message whose dead letter could not be stored, kept for its next delivery. */
interface BlockedFailure {
  errorKind: ErrorKind
  error: WireError
  version: string
}

/** Messages whose dead letter is waiting for the DLQ that one consumer remembers the failure of. */
const MAX_REMEMBERED_BLOCKED = 10_000

export type ConsumerState = 'idle' | 'running' | 'draining' | 'stopped' | 'failed'

export class FunctionConsumer {
  readonly #o: FunctionConsumerOptions
  readonly #log: Logger
  readonly #settler: Settler
  readonly #pull: PullLoop
  readonly #held = new Set<Held>()
  #queue: Held[] = []
  #running = 0
  #fn: RunnableFunction
  #state: ConsumerState = 'idle'
  #flushScheduled = false
  #acks: Held[] = []
  #ackTimer: NodeJS.Timeout | undefined
  #ackSoon = false
  #heartbeat: NodeJS.Timeout | undefined
  #idle: (() => void) | undefined
  #lastSubject = ''
  /** By stream sequence: failures whose dead letter could not be stored yet. */
  readonly #blocked = new Map<number, BlockedFailure>()
  /** Why the last dead letter could not be stored; undefined once one is stored again. */
  #deadLetterProblem: string | undefined
  #advisories: Subscription | undefined

  constructor(opts: FunctionConsumerOptions) {
    this.#o = opts
    this.#fn = opts.fn
    this.#log = opts.log
    this.#settler = new Settler({ nc: opts.nc, js: opts.js, fn: opts.fn.name, log: opts.log, payloads: opts.payloads })
    this.#pull = new PullLoop({
      nc: opts.nc,
      stream: opts.fn.stream,
      consumer: opts.consumer,
      log: opts.log,
      capacity: () => this.#limit - this.#held.size,
      minPull: Math.max(1, Math.floor(this.#limit / 8)),
      onMessage: (msg) => this.#receive(msg),
      onStall: async () => {
        await this.#o.ensureConsumer()
      },
    })
  }

  get state(): ConsumerState {
    return this.#state
  }

  /** The function version new deliveries run on. */
  get fn(): RunnableFunction {
    return this.#fn
  }

  /** Why the function's dead letters cannot be stored now (the DLQ is missing, full, refused); undefined when they can. */
  get deadLetterProblem(): string | undefined {
    return this.#deadLetterProblem
  }

  /** Messages this replica holds for the function: running, queued or being settled. */
  get held(): number {
    return this.#held.size
  }

  get #prefetch(): number {
    return Math.max(1, Math.ceil(this.#fn.concurrency / 4))
  }

  get #limit(): number {
    return this.#fn.concurrency + this.#prefetch
  }

  start(): void {
    if (this.#state !== 'idle') throw new Error(`consumer ${this.#o.consumer} cannot start: it is ${this.#state}`)
    this.#state = 'running'
    this.#pull.start()
    const every = Math.max(250, Math.floor(this.#fn.ackWaitMs / 3))
    this.#heartbeat = setInterval(() => this.#sendHeartbeats(every), every)
    this.#heartbeat.unref()
    this.#watchMaxDeliveries()
    this.#log.info({ consumer: this.#o.consumer, stream: this.#fn.stream, concurrency: this.#fn.concurrency }, 'consumer running')
  }

  /** Routes deliveries from now on to a new version; messages already running finish on theirs. */
  update(fn: RunnableFunction): void {
    this.#fn = fn
    if (this.#state === 'failed') {
      this.#state = 'running'
      this.#pull.start()
      this.#log.info({ version: fn.version.slice(0, 12) }, 'consumer resumed on a new version')
    }
    this.#pull.poke()
  }

  /**
   * The function's code cannot run in this replica (its bundle failed to load in a worker after
   * passing the preload): stop fetching, hand back what is queued, and wait for a new version.
   */
  #fail(fn: RunnableFunction, reason: string): void {
    if (this.#state !== 'running' || fn.version !== this.#fn.version) return
    this.#state = 'failed'
    this.#pull.stop()
    const queued = this.#queue
    this.#queue = []
    for (const q of queued) this.#release(q)
    this.#log.error({ version: fn.version.slice(0, 12), reason }, 'function cannot be loaded here: consumer stopped until a new version is deployed')
  }

  /** After a reconnect: the server may have dropped open pulls. */
  resetPull(reason: string): void {
    this.#pull.reset(reason)
  }

  /**
   * Stops fetching, hands queued messages back at once, lets running ones finish within
   * `graceMs`, and naks (without delay) whatever is still running then, so another replica takes
   * it now. The caller then closes the pool.
   */
  async drain(graceMs: number): Promise<void> {
    if (this.#state !== 'running' && this.#state !== 'failed') return
    this.#state = 'draining'
    this.#pull.stop()
    clearInterval(this.#heartbeat)
    const queued = this.#queue
    this.#queue = []
    for (const d of queued) this.#release(d)
    // Heartbeats continue while we wait, so that nothing running is redelivered meanwhile.
    const beat = setInterval(() => this.#sendHeartbeats(0), Math.max(250, Math.floor(this.#fn.ackWaitMs / 3)))
    try {
      if (this.#held.size > 0) {
        const idle = new Promise<void>((resolve) => (this.#idle = resolve))
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)))
        const result = await Promise.race([idle, timeout])
        clearTimeout(timer)
        if (result === 'timeout') {
          this.#log.warn({ left: this.#held.size, graceMs }, 'shutdown grace over: handing unfinished messages back')
          this.#flushAcks()
          for (const d of [...this.#held]) if (!d.acking) this.#release(d)
        }
      }
    } finally {
      clearInterval(beat)
      this.#flushAcks()
      this.#settler.close()
      this.#advisories?.unsubscribe()
      this.#state = 'stopped'
      this.#log.info({ consumer: this.#o.consumer }, 'consumer stopped')
    }
  }

  /**
   * Takes one delivery. Runs on the client's socket reader (the pull loop's subscription), so
   * nothing here may throw: headers are read by {@link readHeaders}, which never does, and a
   * message whose headers cannot be read is dead-lettered alone (kind `decode`).
   */
  #receive(msg: Msg): void {
    const reply = msg.reply!
    // Only what settling needs: the Msg itself is not held (see Delivery). A function's messages
    // mostly share a subject: keep one copy of it rather than one per held message.
    let subject = msg.subject
    if (subject === this.#lastSubject) subject = this.#lastSubject
    else this.#lastSubject = subject
    const read = readHeaders(msg)
    const d: Held = {
      subject,
      data: msg.data,
      headers: read.ok ? read.headers : null,
      reply,
      stream: this.#fn.stream,
      seq: 0,
      deliveries: 0,
      timeMs: 0,
      lastSeenAt: Date.now(),
      durationMs: undefined,
      version: undefined,
      acking: false,
      undecodable: read.ok ? undefined : { reason: read.reason, raw: read.raw },
    }
    if (!parseAckSubjectInto(reply, d)) {
      this.#log.warn({ reply }, 'delivery with an unreadable ack subject; left to redeliver')
      return
    }
    this.#held.add(d)
    if (this.#state !== 'running') {
      this.#release(d)
      return
    }
    const blocked = this.#blocked.get(d.seq)
    if (blocked) {
      // Failed before and its dead letter could not be stored then: store it now, as it failed.
      void this.#deadLetter(d, blocked.errorKind, blocked.error, blocked.version)
      return
    }
    if (d.undecodable) {
      void this.#deadLetter(d, 'decode', { name: 'HeaderDecodeError', message: `headers cannot be decoded: ${d.undecodable.reason}` })
      return
    }
    if (isPastMaxDeliver(d.deliveries, this.#fn.retry)) {
      void this.#deadLetter(d, 'max-deliver', {
        name: 'MaxDeliverError',
        message: `arrived on delivery ${d.deliveries} of ${this.#fn.retry.maxDeliver}: earlier tries crashed or their replica died`,
      })
      return
    }
    // `fn dlq replay` of another function's dead letter: that function alone runs it again.
    const replayFor = d.headers ? headerValue(d.headers, REPLAY_FOR_HEADER) : undefined
    if (replayFor !== undefined && replayFor !== this.#fn.name) {
      // Not run, and not counted as a run; logged, since any publisher can set the header.
      this.#log.info({ seq: d.seq, replayFor }, 'replay of another function\'s dead letter acked without running it')
      void this.#settler.ack([d]).finally(() => this.#forget([d]))
      return
    }
    this.#queue.push(d)
    this.#scheduleFlush()
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    // Once per event-loop turn: everything read from the socket in this turn goes out as batches.
    setImmediate(() => {
      this.#flushScheduled = false
      this.#dispatch()
    })
  }

  #dispatch(): void {
    const free = this.#fn.concurrency - this.#running
    if (free <= 0 || this.#queue.length === 0 || this.#state !== 'running') return
    const pool = this.#o.pool
    // Batch so that each message does not pay a thread hop of its own, but keep a batch's
    // synchronous work short: the messages of a batch start one after another on one thread, so
    // a batch of CPU-bound handlers would hold its last message back and leave other threads idle.
    const blockingMs = pool.blockingMs(this.#fn.name)
    const maxBatch = Math.min(this.#o.maxBatch ?? 256, blockingMs ? Math.max(1, Math.floor(BATCH_BLOCKING_MS / blockingMs)) : Number.POSITIVE_INFINITY)
    const n = Math.min(free, this.#queue.length)
    const idle = pool.idleThreads
    // While every thread has a full batch of this function's work ahead of it, wait for a full
    // batch: CPU-bound outcomes come back one batch at a time and freed slots trickle in, and
    // sending each slot's message on its own cost a thread hop and a wake-up per message
    // (5,748 batches for 8,000 messages in the 1 ms CPU case).
    if (blockingMs && n < maxBatch && idle === 0 && this.#running * blockingMs >= pool.threads * BATCH_BLOCKING_MS) return
    const take = this.#queue.splice(0, n)
    this.#running += take.length
    // Spread a dispatch over idle threads only when it carries enough work to keep more than one
    // busy (CPU-bound handlers then use every core); otherwise it goes whole to the least loaded
    // thread (the pool's balancer counts messages): each batch costs a thread hop both ways.
    const worth = blockingMs === undefined ? Math.floor(take.length / MIN_SPLIT) : Math.floor((take.length * blockingMs) / SPLIT_MIN_MS)
    const spread = blockingMs === undefined ? pool.threads : Math.max(1, idle)
    const chunks = Math.max(1, Math.min(spread, worth), Math.ceil(take.length / maxBatch))
    const size = Math.ceil(take.length / chunks)
    for (let i = 0; i < take.length; i += size) this.#dispatchBatch(take.slice(i, i + size))
  }

  #dispatchBatch(batch: Held[]): void {
    const fn = this.#fn
    const encoded = encodeBatch(batch)
    // A RunnableFunction is a DispatchFunction; the pool copies only what the worker needs.
    this.#o.pool.dispatch(fn, encoded, {
      ok: (index, durationMs) => {
        this.#running--
        const d = batch[index]!
        d.version = fn.version
        d.durationMs = durationMs
        this.#queueAck(d)
        this.#scheduleFlush()
      },
      outcome: (index, outcome) => {
        this.#running--
        const d = batch[index]!
        d.version = fn.version
        if (outcome.kind !== 'requeue') {
          if (outcome.logs) this.#o.observer?.logs(fn.name, outcome.logs)
          if (outcome.kind !== 'unloadable') d.durationMs = outcome.durationMs
        }
        if (outcome.kind === 'ok' && outcome.outputs.length === 0) this.#queueAck(d)
        else void this.#settle(d, outcome, fn)
        this.#scheduleFlush()
      },
    })
  }

  /**
   * Acks of plain successes go out together, confirmed once per group (see Settler.ack). Each
   * group costs a socket write and a round trip on both sides, and holds its messages' room until
   * confirmed. So a group goes out at once at ACK_GROUP acks, at the end of this event-loop turn
   * once ACK_SOON wait (a busy function), and otherwise ACK_DELAY_MS after its first ack: the
   * outcomes of CPU-bound batches trickle in one or two at a time, and acking each as it came cost
   * the main thread a write per message.
   */
  #queueAck(d: Held): void {
    d.acking = true
    this.#acks.push(d)
    if (this.#acks.length >= ACK_GROUP) {
      this.#flushAcks()
    } else if (this.#acks.length >= ACK_SOON) {
      if (!this.#ackSoon) {
        this.#ackSoon = true
        setImmediate(() => {
          this.#ackSoon = false
          this.#flushAcks()
        })
      }
    } else {
      this.#ackTimer ??= setTimeout(() => this.#flushAcks(), ACK_DELAY_MS)
    }
  }

  #flushAcks(): void {
    clearTimeout(this.#ackTimer)
    this.#ackTimer = undefined
    const group = this.#acks
    if (group.length === 0) return
    this.#acks = []
    void this.#settler.ack(group).finally(() => {
      for (const g of group) this.#emit(g, 'ok')
      this.#forget(group)
    })
  }

  async #settle(d: Held, outcome: PoolOutcome, fn: RunnableFunction): Promise<void> {
    try {
      if (outcome.kind === 'requeue') {
        this.#log.debug({ seq: d.seq, reason: outcome.reason }, 'message requeued without blame')
        if (this.#state === 'running') {
          this.#queue.unshift(d)
          this.#scheduleFlush()
        } else {
          this.#release(d)
        }
        return
      }
      if (outcome.kind === 'unloadable') {
        // Not the message's fault: hand it back at once (another replica may load the bundle)
        // and stop fetching, rather than cycle messages through a thread that cannot run them.
        this.#release(d)
        this.#fail(fn, `${outcome.error.name}: ${outcome.error.message}`)
        return
      }
      const action = decide(outcome, d.deliveries, fn.retry)
      const log = this.#log.child({ seq: d.seq, deliveries: d.deliveries })
      switch (action.action) {
        case 'ack':
          try {
            await this.#settler.publishOutputs(d, action.outputs)
          } catch (err) {
            const error = { name: 'OutputPublishError', message: `outputs not stored: ${(err as Error).message}` }
            return await this.#settle(d, { kind: 'retry', errorKind: 'error', error, durationMs: outcome.durationMs }, fn)
          }
          await this.#settler.ack([d])
          this.#emit(d, 'ok')
          break
        case 'nak':
          log.warn({ errorKind: action.errorKind, error: `${action.error.name}: ${action.error.message}`, delayMs: action.delayMs }, 'invocation failed; retrying')
          this.#settler.nak(d, action.delayMs)
          this.#emit(d, 'retried', action.errorKind, action.error, action.delayMs)
          break
        case 'dead-letter':
          await this.#deadLetter(d, action.errorKind, action.error)
          return
      }
      this.#forget([d])
    } catch (err) {
      this.#log.error({ err, seq: d.seq }, 'settling failed; the message is redelivered after ack_wait')
      this.#forget([d])
    }
  }

  /**
   * Stores a message's dead letter, then terminates it. When the dead letter cannot be stored
   * (the DLQ stream missing, full or not permitted, a payload store refused), the message is
   * never terminated: it is nak'd with a backoff capped at 30 s, its failure is remembered for its
   * next delivery, and the consumer reports the problem (`/readyz`, a metric, a warning) until a
   * dead letter is stored again.
   */
  async #deadLetter(d: Held, errorKind: ErrorKind, error: WireError, version = d.version ?? this.#fn.version): Promise<void> {
    try {
      await this.#settler.deadLetter(d, errorKind, error, { version, rawHeaders: d.undecodable?.raw })
      this.#blocked.delete(d.seq)
      if (this.#deadLetterProblem !== undefined) {
        this.#deadLetterProblem = undefined
        this.#log.info('dead letters are stored again')
        this.#o.onDeadLetterBlocked?.(undefined)
      }
      this.#log.warn({ seq: d.seq, deliveries: d.deliveries, errorKind, error: `${error.name}: ${error.message}` }, 'message dead-lettered')
      this.#emit(d, 'dead-lettered', errorKind, error)
    } catch (err) {
      const reason = (err as Error).message
      const delayMs = deadLetterRetryDelayMs(d.deliveries, this.#fn.retry)
      if (this.#blocked.size >= MAX_REMEMBERED_BLOCKED) this.#blocked.delete(this.#blocked.keys().next().value!)
      this.#blocked.set(d.seq, { errorKind, error, version })
      this.#deadLetterProblem = reason
      this.#log.warn({ err, seq: d.seq, deliveries: d.deliveries, errorKind, delayMs }, 'dead letter not stored; the message is kept and tried again')
      this.#o.onDeadLetterBlocked?.(reason)
      this.#settler.nak(d, delayMs)
      this.#emit(d, 'retried', errorKind, { name: DEAD_LETTER_NOT_STORED, message: `dead letter not stored: ${reason}` }, delayMs)
    } finally {
      this.#forget([d])
    }
  }

  /**
   * The server-side `max_deliver` of jetfn's consumers is unlimited, so the server never drops a
   * message on its own. A consumer changed by another tool could still have one: the advisory the
   * server sends when it gives a message up is the only trace, so it is logged as an error.
   */
  #watchMaxDeliveries(): void {
    const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.#fn.stream}.${this.#o.consumer}`
    try {
      this.#advisories = this.#o.nc.subscribe(subject, {
        callback: guardCallback(this.#log, subject, (m) => {
          let advisory: { stream_seq?: number; deliveries?: number } = {}
          try {
            advisory = m.json()
          } catch {
            // An unreadable advisory is still logged, without its details.
          }
          this.#log.error(
            { consumer: this.#o.consumer, stream: this.#fn.stream, streamSeq: advisory.stream_seq, deliveries: advisory.deliveries },
            'the server gave up on a message (max_deliver reached): it is no longer delivered; the consumer\'s max_deliver should be -1',
          )
        }),
      })
    } catch (err) {
      this.#log.warn({ err, subject }, 'cannot watch max-deliveries advisories')
    }
  }

  #emit(d: Held, outcome: InvocationEvent['outcome'], errorKind?: ErrorKind, error?: WireError, delayMs?: number): void {
    const observer = this.#o.observer
    if (!observer) return
    const event: InvocationEvent = {
      fn: this.#fn.name,
      version: d.version ?? this.#fn.version,
      replica: this.#o.replicaId ?? '',
      stream: d.stream,
      seq: d.seq,
      deliveries: d.deliveries,
      subject: d.subject,
      outcome,
      at: Date.now(),
    }
    if (errorKind) event.errorKind = errorKind
    if (error) event.error = `${error.name}: ${error.message}`
    if (delayMs !== undefined) event.delayMs = delayMs
    if (d.durationMs !== undefined) event.durationMs = d.durationMs
    try {
      observer.settled(event)
    } catch (err) {
      this.#log.warn({ err }, 'invocation observer failed')
    }
  }

  /** Hands a message back for immediate redelivery (to this or another replica). */
  #release(d: Held): void {
    this.#settler.nak(d, 0)
    this.#forget([d])
  }

  #forget(group: Held[]): void {
    for (const d of group) this.#held.delete(d)
    if (this.#held.size === 0 && this.#idle) {
      this.#idle()
      this.#idle = undefined
    }
    if (this.#state === 'running') this.#pull.poke()
  }

  #sendHeartbeats(olderThanMs: number): void {
    const now = Date.now()
    for (const d of this.#held) {
      if (now - d.lastSeenAt >= olderThanMs) {
        d.lastSeenAt = now
        this.#settler.working(d)
      }
    }
  }
}
