/**
 * Provisioning of `FN_SCHEDULES` and its relay consumer: by `fn deploy` (always, where the server
 * has message schedules, so that delayed outputs work under bind-only replicas) and by a
 * provisioning replica at start.
 *
 * The stream is a work queue: a tick, a due delayed message or a debounced run is removed once its
 * consumer acks it, and schedules themselves (on `fn.schedules.>`, which no consumer reads) stay
 * until replaced or purged. `max_msgs_per_subject: 1` makes each subject hold only its latest
 * message: one schedule per subject (ADR-51), and a function's ticks never pile up while no
 * replica runs: after downtime, the ticks missed run once (the latest), not in a burst.
 */
import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { isNotFound, raiseReplicas } from '../nats/ensure-stream.ts'
import { DELAYED_FILTER, RELAY_CONSUMER, SCHEDULES_STREAM, SCHEDULES_SUBJECTS } from './schedule-subjects.ts'

/** The relay consumer's ack wait, ms: a replica that dies mid-publish hands the message on after this. */
export const RELAY_ACK_WAIT_MS = 30_000

/** The config `FN_SCHEDULES` is created with. */
export function schedulesStreamConfig(replicas: number): Partial<StreamConfig> & { name: string } {
  return {
    name: SCHEDULES_STREAM,
    subjects: [...SCHEDULES_SUBJECTS],
    storage: StorageType.File,
    retention: RetentionPolicy.Workqueue,
    num_replicas: replicas,
    max_msgs_per_subject: 1,
    duplicate_window: nanos(120_000),
    allow_msg_schedules: true,
  }
}

/**
 * Creates `FN_SCHEDULES` when missing (its replicas only ever raised, as jetfn's other streams), and
 * the relay consumer. A stream of that name made otherwise (not a work queue, or without
 * schedules) is refused with `FN_STREAM_CONFLICT`, never changed.
 */
export async function ensureSchedulesStream(jsm: JetStreamManager, replicas: number, log: Logger): Promise<void> {
  let existing: StreamConfig | undefined
  try {
    existing = (await jsm.streams.info(SCHEDULES_STREAM)).config
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  if (!existing) {
    try {
      await jsm.streams.add(schedulesStreamConfig(replicas))
    } catch (err) {
      throw new FnError(FnErrorCode.StreamConflict, `stream ${SCHEDULES_STREAM} cannot be created: ${(err as Error).message}`, { cause: err })
    }
    log.info({ stream: SCHEDULES_STREAM, replicas }, 'stream created')
  } else {
    if (existing.allow_msg_schedules !== true || existing.retention !== RetentionPolicy.Workqueue) {
      throw new FnError(FnErrorCode.StreamConflict, `stream ${SCHEDULES_STREAM} exists but is not jetfn's: it needs allow_msg_schedules and work-queue retention`, {
        hint: `delete it (nats stream rm ${SCHEDULES_STREAM}) and deploy again`,
      })
    }
    await raiseReplicas(jsm, SCHEDULES_STREAM, replicas, log, existing)
  }
  await ensureRelayConsumer(jsm, log)
}

async function ensureRelayConsumer(jsm: JetStreamManager, log: Logger): Promise<void> {
  try {
    await jsm.consumers.info(SCHEDULES_STREAM, RELAY_CONSUMER)
    return
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  await jsm.consumers.add(SCHEDULES_STREAM, {
    durable_name: RELAY_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    // A work queue's consumers start at what it holds.
    deliver_policy: DeliverPolicy.All,
    filter_subject: DELAYED_FILTER,
    ack_wait: nanos(RELAY_ACK_WAIT_MS),
    // As functions' consumers: the relay itself gives up on nothing (see DelayedRelay).
    max_deliver: -1,
    max_ack_pending: 1_000,
  })
  log.info({ consumer: RELAY_CONSUMER, stream: SCHEDULES_STREAM }, 'consumer created')
}
