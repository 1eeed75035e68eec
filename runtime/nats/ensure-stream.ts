/**
 * Creates or updates the streams jetfn relies on: the ones `fn.config.ts` lists and the DLQ.
 * Idempotent: a missing stream is created with every field (defaults included); one that exists
 * gets only the fields the file wrote ({@link planStreamUpdate}); one that cannot be reconciled
 * safely is reported, never deleted or overwritten.
 */
import { RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { planStreamUpdate, type StreamSpec } from './plan-stream-update.ts'

export type { StreamSpec } from './plan-stream-update.ts'

/** Options of {@link ensureStream}. */
export interface EnsureStreamOptions {
  /**
   * One of jetfn's own streams (the DLQ): created from `spec` when missing; when it exists, only
   * its replicas change, and only upwards. Default: false (a stream of `fn.config.ts`).
   */
  own?: boolean
  /** How long a timeout or an unavailable JetStream is tried again, in ms. Default: 30000. */
  retryForMs?: number
}

/**
 * Ensures one stream. A timeout or an unavailable JetStream (a cluster still electing its leader,
 * a replicated stream slow to place) is tried again, every second, for up to `retryForMs`
 * (`retryForMs`) before it is reported: a replica starting beside a restarting cluster
 * should wait for it, not exit. Seen on a loaded 3-node cluster: creating the R3 DLQ stream took
 * longer than the 5 s API timeout once.
 */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, log: Logger, opts: EnsureStreamOptions = {}): Promise<void> {
  const deadline = Date.now() + (opts.retryForMs ?? 30_000)
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureStreamOnce(jsm, spec, log, opts.own ?? false)
      return
    } catch (err) {
      if (!isTransient(err) || Date.now() >= deadline) throw err
      log.warn({ stream: spec.name, attempt, err: (err as Error).message }, 'JetStream not answering yet; ensuring the stream again')
      await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
  }
}

/** A timeout, no responders, or JetStream "temporarily unavailable" (503), anywhere in the cause chain. */
function isTransient(err: unknown): boolean {
  for (let e = err as { name?: string; message?: string; code?: unknown; cause?: unknown; api_error?: { code?: number } } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.name === 'TimeoutError' || e.name === 'NoRespondersError' || e.api_error?.code === 503) return true
    if (typeof e.message === 'string' && /timeout|no responders|temporarily unavailable/i.test(e.message)) return true
  }
  return false
}

async function ensureStreamOnce(jsm: JetStreamManager, spec: StreamSpec, log: Logger, own: boolean): Promise<void> {
  let existing: StreamConfig | undefined
  try {
    existing = (await jsm.streams.info(spec.name)).config
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  if (existing && own) {
    await raiseReplicas(jsm, spec.name, spec.replicas, log, existing)
    return
  }
  if (!existing) {
    await apply(spec.name, () =>
      jsm.streams.add({
        name: spec.name,
        subjects: [...spec.subjects],
        storage: spec.storage === 'memory' ? StorageType.Memory : StorageType.File,
        num_replicas: spec.replicas,
        max_age: nanos(spec.maxAgeMs),
        duplicate_window: nanos(spec.duplicateWindowMs),
        retention: RetentionPolicy.Limits,
      }),
    )
    log.info({ stream: spec.name, subjects: spec.subjects, replicas: spec.replicas }, 'stream created')
    return
  }
  const plan = planStreamUpdate(existing, spec)
  if (plan.action === 'none') return
  if (plan.action === 'refuse') {
    throw new FnError(FnErrorCode.StreamConflict, plan.reasons.join('\n'), {
      hint: 'fields left out of fn.config.ts stay as the server has them; nothing was changed',
    })
  }
  await apply(spec.name, () => jsm.streams.update(spec.name, plan.changes))
  log.info({ stream: spec.name, fields: plan.fields }, 'stream updated')
}

/**
 * Raises a stream's replicas to `replicas` if it has fewer; never lowers them, so that a node
 * down (a smaller cluster seen) or a lower setting takes no redundancy away. For jetfn's own
 * streams and buckets, which the user does not describe field by field. A raise that fails (no
 * permission, too few nodes up) is logged as a warning and left for the next start: the stream
 * works as it is.
 *
 * @param existing the stream's config when the caller has just read it.
 */
export async function raiseReplicas(jsm: JetStreamManager, stream: string, replicas: number, log: Logger, existing?: StreamConfig): Promise<void> {
  let before = 0
  try {
    before = (existing ?? (await jsm.streams.info(stream)).config).num_replicas || 1
    if (replicas <= before) return
    await jsm.streams.update(stream, { num_replicas: replicas })
    log.info({ stream, from: before, to: replicas }, 'stream replicas raised')
  } catch (err) {
    log.warn({ stream, from: before, to: replicas, err }, 'stream replicas not raised')
  }
}

/**
 * Runs a create or update; a failure is reported with the stream's name. A refusal by the server
 * is `FN_STREAM_CONFLICT`; a timeout stays transient (its cause) so that {@link ensureStream} tries again.
 */
async function apply(stream: string, call: () => Promise<unknown>): Promise<void> {
  try {
    await call()
  } catch (err) {
    const code = isTransient(err) ? FnErrorCode.NatsUnavailable : FnErrorCode.StreamConflict
    throw new FnError(code, `stream ${stream} cannot be created or updated: ${(err as Error).message}`, { cause: err })
  }
}

/** True when a JetStream API error says the stream or consumer does not exist. */
export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; api_error?: { err_code?: number } }
  const code = (e as { apiError?: () => { err_code?: number } }).apiError?.()?.err_code
  return code === 10059 || code === 10014 || /not found/i.test(String(e?.message ?? ''))
}
