/**
 * Creates or updates the streams jetfn relies on: the ones `fn.config.ts` lists and the DLQ.
 * Idempotent: a stream that already matches is left alone, one that differs in what can be
 * updated is updated, and one that cannot be reconciled is reported, never deleted.
 */
import { RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'

/** A stream as `fn.config.ts` resolves it. */
export interface StreamSpec {
  name: string
  subjects: readonly string[]
  storage: 'file' | 'memory'
  replicas: number
  /** 0: keep messages forever (within the stream's other limits). */
  maxAgeMs: number
  duplicateWindowMs: number
}

/**
 * Ensures one stream. A timeout or an unavailable JetStream (a cluster still electing its leader,
 * a replicated stream slow to place) is tried again, every second, for up to `retryForMs`
 * (default 30 000 ms) before it is reported: a replica starting beside a restarting cluster
 * should wait for it, not exit. Seen on a loaded 3-node cluster: creating the R3 DLQ stream took
 * longer than the 5 s API timeout once.
 */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, log: Logger, retryForMs = 30_000): Promise<void> {
  const deadline = Date.now() + retryForMs
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureStreamOnce(jsm, spec, log)
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

async function ensureStreamOnce(jsm: JetStreamManager, spec: StreamSpec, log: Logger): Promise<void> {
  const wanted: Partial<StreamConfig> & { name: string } = {
    name: spec.name,
    subjects: [...spec.subjects],
    storage: spec.storage === 'memory' ? StorageType.Memory : StorageType.File,
    num_replicas: spec.replicas,
    max_age: nanos(spec.maxAgeMs),
    duplicate_window: nanos(spec.duplicateWindowMs),
    retention: RetentionPolicy.Limits,
  }
  let existing: StreamConfig | undefined
  try {
    existing = (await jsm.streams.info(spec.name)).config
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  try {
    if (!existing) {
      await jsm.streams.add(wanted)
      log.info({ stream: spec.name, subjects: spec.subjects }, 'stream created')
      return
    }
    const same =
      sameSet(existing.subjects ?? [], spec.subjects) &&
      existing.max_age === wanted.max_age &&
      existing.duplicate_window === wanted.duplicate_window &&
      existing.num_replicas === wanted.num_replicas
    if (same) return
    const { storage: _storage, name: _name, ...update } = { ...existing, ...wanted }
    await jsm.streams.update(spec.name, update)
    log.info({ stream: spec.name, subjects: spec.subjects }, 'stream updated')
  } catch (err) {
    throw new FnError(FnErrorCode.ConfigInvalid, `stream '${spec.name}' cannot be created or updated: ${(err as Error).message}`, { cause: err })
  }
}

/** True when a JetStream API error says the stream or consumer does not exist. */
export function isNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; api_error?: { err_code?: number } }
  const code = (e as { apiError?: () => { err_code?: number } }).apiError?.()?.err_code
  return code === 10059 || code === 10014 || /not found/i.test(String(e?.message ?? ''))
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x))
}
