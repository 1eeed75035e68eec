/**
 * What `fn ls` shows: every deployed function's manifest joined with the live state of its
 * durable consumer and its dead letters, read from JetStream. No printing here.
 */
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { consumerName } from '../nats/ensure-consumer.ts'
import { toPauseState } from './pause-function.ts'
import { replayProgress } from './replay-function.ts'
import { deadLetterSubject } from '../settle/dead-letter.ts'
import type { Registry } from './registry.ts'

/** One deployed function as `fn ls --json` prints it. Field names are a contract for tools. */
export interface FunctionStatus {
  name: string
  /** sha256 of the bundle, hex (64 digits; the table shows the first 12). */
  version: string
  subject: string
  stream: string
  /** Durable consumer name (`fn_<name>`). */
  consumer: string
  /** Messages not yet delivered (consumer `num_pending`); null when the consumer does not exist yet. */
  pending: number | null
  /** Delivered, not yet acked (consumer `num_ack_pending`); null when the consumer does not exist yet. */
  inFlight: number | null
  /** Delivered more than once, not yet acked (consumer `num_redelivered`); null when the consumer does not exist yet. */
  redelivered: number | null
  /** Messages on `fn.dlq.<name>` in the DLQ stream; null when that stream does not exist. */
  dlq: number | null
  /**
   * Why the DLQ stream cannot take dead letters now (it does not exist, it is full with
   * `discard: new`, it is sealed); null when it can. Failed messages then wait, unterminated,
   * and are tried again until it can (DESIGN).
   */
  dlqProblem: string | null
  /**
   * ISO time the function's pause ends (`fn pause`); `9999-01-01T00:00:00.000Z` when paused until
   * `fn resume`; null when it is not paused (or its consumer does not exist yet).
   */
  pausedUntil: string | null
  /**
   * The replay in progress (`fn replay`), with the messages it has left to run (0 once finished,
   * until `fn deploy` or the next `fn replay` ends it); null when there is none.
   */
  replay: { id: string; count: number; left: number; finished: boolean } | null
  /** ISO time of the deploy (or rollback). */
  deployedAt: string
  deployedBy: { user: string; host: string }
}

/** Options of {@link functionStatuses}. */
export interface FunctionStatusOptions {
  registry: Registry
  jsm: JetStreamManager
  /** The DLQ stream (`dlq.stream` of `fn.config.ts`). */
  dlqStream: string
}

/** Every deployed function, sorted by name, with its consumer and DLQ figures. */
export async function functionStatuses(opts: FunctionStatusOptions): Promise<FunctionStatus[]> {
  const [manifests, dlqInfo] = await Promise.all([opts.registry.list(), dlqState(opts.jsm, opts.dlqStream)])
  const dlq = dlqInfo?.state.subjects ?? (dlqInfo ? {} : undefined)
  // Before any replica has run, neither the consumers nor the DLQ exist yet: that is no problem.
  const missing = `${opts.dlqStream} does not exist`
  const full = dlqInfo && dlqFull(dlqInfo)
  return Promise.all(
    manifests.map(async (m): Promise<FunctionStatus> => {
      const consumer = consumerName(m.name)
      const info = await opts.jsm.consumers.info(m.stream, consumer).catch((err: unknown) => {
        if (isNotFound(err)) return undefined
        throw new FnError(FnErrorCode.NatsUnavailable, `cannot read consumer ${consumer} of ${m.name} on stream ${m.stream}: ${(err as Error).message}`, { cause: err })
      })
      return {
        name: m.name,
        version: m.version,
        subject: m.subject,
        stream: m.stream,
        consumer,
        pending: info?.num_pending ?? null,
        inFlight: info?.num_ack_pending ?? null,
        redelivered: info?.num_redelivered ?? null,
        dlq: dlq === undefined ? null : (dlq[deadLetterSubject(m.name)] ?? 0),
        dlqProblem: dlqInfo === undefined ? (info ? missing : null) : full!,
        pausedUntil: toPauseState(m.name, m.stream, info?.paused === true ? info.config.pause_until : undefined).until,
        replay: m.replays?.[0] ? { id: m.replays[0].id, count: m.replays[0].count, ...(await replayProgress(opts.jsm, m.stream, m.replays[0])) } : null,
        deployedAt: m.deployedAt,
        deployedBy: m.deployedBy,
      }
    }),
  )
}

/** The DLQ stream with its messages per subject (one request, paged by the client); undefined when it does not exist. */
async function dlqState(jsm: JetStreamManager, stream: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(stream, { subjects_filter: deadLetterSubject('>') })
  } catch (err) {
    if (isNotFound(err)) return undefined
    throw new FnError(FnErrorCode.NatsUnavailable, `cannot read the DLQ stream ${stream}: ${(err as Error).message}`, { cause: err })
  }
}

/** Why a stream refuses new messages, as far as its config and state tell; null when it takes them. */
function dlqFull(info: StreamInfo): string | null {
  const { config, state } = info
  if (config.sealed) return `${config.name} is sealed`
  if (config.discard !== DiscardPolicy.New) return null
  if (config.max_msgs > 0 && state.messages >= config.max_msgs) return `${config.name} is full (max_msgs ${config.max_msgs} reached, discard new)`
  if (config.max_bytes > 0 && state.bytes >= config.max_bytes) return `${config.name} is full (max_bytes ${config.max_bytes} reached, discard new)`
  return null
}

function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.ConsumerNotFound || err.code === JetStreamApiCodes.StreamNotFound)
}
