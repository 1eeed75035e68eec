/**
 * Creates or updates a function's durable pull consumer `fn_<name>` to match its options.
 * Every replica calls this at start; the server treats an identical config as a no-op, so
 * replicas starting together do not fight.
 */
import { AckPolicy, DeliverPolicy, type ConsumerConfig, type JetStreamManager } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { isNotFound } from './ensure-stream.ts'

/** The consumer settings derived from a function's options. */
export interface ConsumerSpec {
  stream: string
  name: string
  subject: string
  ackWaitMs: number
  /** Cap on unacked messages across every replica. */
  maxAckPending: number
}

/** The durable consumer name of a function. */
export function consumerName(fn: string): string {
  return `fn_${fn}`
}

export function consumerConfig(spec: ConsumerSpec): Partial<ConsumerConfig> {
  return {
    durable_name: spec.name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: spec.subject,
    ack_wait: nanos(spec.ackWaitMs),
    // Unlimited: at its max_deliver the server stops delivering a message and lets the ack
    // floor pass it, with only an advisory as a trace (NATS-NOTES). jetfn counts deliveries
    // itself and dead-letters at the function's maxDeliver, so nothing is dropped.
    max_deliver: -1,
    max_ack_pending: spec.maxAckPending,
    max_waiting: 512,
  }
}

export async function ensureConsumer(jsm: JetStreamManager, spec: ConsumerSpec, log: Logger): Promise<void> {
  const wanted = consumerConfig(spec)
  let existing: ConsumerConfig | undefined
  try {
    existing = (await jsm.consumers.info(spec.stream, spec.name)).config
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  if (!existing) {
    await jsm.consumers.add(spec.stream, wanted)
    log.info({ consumer: spec.name, stream: spec.stream }, 'consumer created')
    return
  }
  const same =
    existing.filter_subject === wanted.filter_subject &&
    existing.ack_wait === wanted.ack_wait &&
    existing.max_deliver === wanted.max_deliver &&
    existing.max_ack_pending === wanted.max_ack_pending
  if (same) return
  await jsm.consumers.update(spec.stream, spec.name, {
    filter_subject: wanted.filter_subject,
    ack_wait: wanted.ack_wait,
    max_deliver: wanted.max_deliver,
    max_ack_pending: wanted.max_ack_pending,
  })
  log.info({ consumer: spec.name, stream: spec.stream }, 'consumer updated')
}
