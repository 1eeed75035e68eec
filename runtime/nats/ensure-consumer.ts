/**
 * Creates or updates a function's durable pull consumer `fn_<name>` to match its options.
 * Every replica calls this at start and on every deploy; the server treats an identical config
 * as a no-op, so replicas starting together do not fight. Where a new consumer starts is the
 * function's `startFrom` ('new' by default: deploying onto a stream with history, or again after
 * `fn rm`, replays nothing); a consumer recreated after it was lost under a running replica
 * starts after the ack floor last seen instead.
 */
import { AckPolicy, DeliverPolicy, type ConsumerConfig, type JetStreamManager } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { ResolvedStartFrom } from '../function/function-options.ts'
import { isNotFound } from './ensure-stream.ts'

/** The consumer settings derived from a function's options. */
export interface ConsumerSpec {
  stream: string
  name: string
  subject: string
  ackWaitMs: number
  /** Cap on unacked messages across every replica. */
  maxAckPending: number
  /** Where a new consumer starts. */
  startFrom: ResolvedStartFrom
  /** ISO time a new consumer is paused until (a paused function moved to another stream stays paused). */
  pauseUntil?: string
  /**
   * Set for a keyed function: the consumer delivers to one replica at a time, the pinned client of
   * its priority group {@link PIN_GROUP}; another is pinned once that one sends no pull for `timeoutMs`.
   */
  pinned?: { timeoutMs: number } | undefined
}

/** The priority group of keyed functions' consumers (nats-server 2.11 `pinned_client`). */
export const PIN_GROUP = 'jetfn'

/** How long a keyed function's owner may go without pulling before another replica is pinned, ms: its ack wait, at most 10 s. */
export function pinTimeoutMs(ackWaitMs: number): number {
  return Math.min(ackWaitMs, 10_000)
}

/** What the server says of the consumer after ensuring it. */
export interface EnsuredConsumer {
  /** Stream sequence of the consumer's ack floor (0 before anything was acked). */
  ackFloor: number
  created: boolean
}

/** What a function's consumer is made from (a RunnableFunction, or options plus a stream). */
export interface ConsumerSource {
  name: string
  subject: string
  stream: string
  ackWaitMs: number
  concurrency: number
  startFrom: ResolvedStartFrom
  /** Cap across replicas (`concurrency.total`). */
  maxInFlight?: number | undefined
  /** Set when messages are grouped by key: the consumer is then pinned to one replica. */
  keyed?: unknown
}

/** The consumer a function needs. */
export function consumerSpec(fn: ConsumerSource): ConsumerSpec {
  return {
    stream: fn.stream,
    name: consumerName(fn.name),
    subject: fn.subject,
    ackWaitMs: fn.ackWaitMs,
    // Room for many replicas at full concurrency; each replica bounds itself by its own pulls.
    maxAckPending: fn.maxInFlight ?? Math.max(1_000, (fn.concurrency + Math.ceil(fn.concurrency / 4)) * 16),
    startFrom: fn.startFrom,
    ...(fn.keyed ? { pinned: { timeoutMs: pinTimeoutMs(fn.ackWaitMs) } } : {}),
  }
}

/** The durable consumer name of a function. */
export function consumerName(fn: string): string {
  return `fn_${fn}`
}

/** The consumer of a function's replay (`fn replay`; one at a time per function). */
export function replayConsumerName(fn: string): string {
  return `fn_${fn}_replay`
}

/** Where a consumer starts, as consumer config fields. */
export function startPosition(from: ResolvedStartFrom): Partial<ConsumerConfig> {
  if (from === 'new') return { deliver_policy: DeliverPolicy.New }
  if (from === 'all') return { deliver_policy: DeliverPolicy.All }
  if ('seq' in from) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.seq }
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: from.time }
}

export function consumerConfig(spec: ConsumerSpec): Partial<ConsumerConfig> {
  return {
    durable_name: spec.name,
    ack_policy: AckPolicy.Explicit,
    ...startPosition(spec.startFrom),
    filter_subject: spec.subject,
    ack_wait: nanos(spec.ackWaitMs),
    // Unlimited: at its max_deliver the server stops delivering a message and lets the ack
    // floor pass it, with only an advisory as a trace (NATS-NOTES). jetfn counts deliveries
    // itself and dead-letters at the function's maxDeliver, so nothing is dropped.
    max_deliver: -1,
    max_ack_pending: spec.maxAckPending,
    max_waiting: 512,
    ...(spec.pauseUntil ? { pause_until: spec.pauseUntil } : {}),
    ...priorityFields(spec),
  }
}

/** The priority-group fields of a consumer: set for a pinned one, explicitly absent otherwise (an update then removes them). */
function priorityFields(spec: ConsumerSpec): Partial<ConsumerConfig> {
  if (!spec.pinned) return { priority_groups: undefined, priority_policy: undefined, priority_timeout: undefined } as Partial<ConsumerConfig>
  return { priority_groups: [PIN_GROUP], priority_policy: 'pinned_client', priority_timeout: nanos(spec.pinned.timeoutMs) } as Partial<ConsumerConfig>
}

/**
 * Makes the consumer match `spec`. `resumeAfter`: when the consumer has to be created although
 * the function ran before (it was lost), start after this stream sequence (its last ack floor)
 * rather than at `startFrom`.
 */
export async function ensureConsumer(jsm: JetStreamManager, spec: ConsumerSpec, log: Logger, resumeAfter?: number): Promise<EnsuredConsumer> {
  let existing: { config: ConsumerConfig; ackFloor: number } | undefined
  try {
    const info = await jsm.consumers.info(spec.stream, spec.name)
    existing = { config: info.config, ackFloor: info.ack_floor.stream_seq }
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  if (!existing) {
    const wanted = consumerConfig(resumeAfter === undefined ? spec : { ...spec, startFrom: { seq: resumeAfter + 1 } })
    await jsm.consumers.add(spec.stream, wanted)
    log.info({ consumer: spec.name, stream: spec.stream, startFrom: resumeAfter === undefined ? spec.startFrom : { seq: resumeAfter + 1 } }, 'consumer created')
    return { ackFloor: resumeAfter ?? 0, created: true }
  }
  const wanted = consumerConfig(spec)
  const current = existing.config
  const same =
    current.filter_subject === wanted.filter_subject &&
    current.ack_wait === wanted.ack_wait &&
    current.max_deliver === wanted.max_deliver &&
    current.max_ack_pending === wanted.max_ack_pending &&
    (current.priority_policy ?? 'none') === (wanted.priority_policy ?? 'none') &&
    (current.priority_timeout ?? 0) === (wanted.priority_timeout ?? 0)
  if (!same) {
    // The start position of an existing consumer is left alone: it only says where a new one begins.
    await jsm.consumers.update(spec.stream, spec.name, {
      filter_subject: wanted.filter_subject,
      ack_wait: wanted.ack_wait,
      max_deliver: wanted.max_deliver,
      max_ack_pending: wanted.max_ack_pending,
      // Undefined fields are dropped from the request: a consumer that was pinned stops being so.
      priority_groups: wanted.priority_groups,
      priority_policy: wanted.priority_policy,
      priority_timeout: wanted.priority_timeout,
    })
    log.info({ consumer: spec.name, stream: spec.stream }, 'consumer updated')
  }
  return { ackFloor: existing.ackFloor, created: false }
}
