/**
 * What to do to a stream that already exists so that it has what `fn.config.ts` writes: a pure
 * function of the server's config and the fields the file wrote. Only written fields are applied;
 * a change that loses data or safety, or that the server would refuse, is refused instead.
 */
import { StorageType, type StreamConfig } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { formatDuration } from '../config/duration.ts'

/** Fields of a stream that `fn.config.ts` can write, by their names there. */
export const STREAM_FIELDS = ['subjects', 'storage', 'replicas', 'maxAge', 'duplicateWindow'] as const

/** One field of a stream that `fn.config.ts` can write. */
export type StreamField = (typeof STREAM_FIELDS)[number]

/** A stream as `fn.config.ts` resolves it, or as jetfn specifies one of its own. */
export interface StreamSpec {
  name: string
  subjects: readonly string[]
  storage: 'file' | 'memory'
  replicas: number
  /** In ms; 0: keep messages forever (within the stream's other limits). */
  maxAgeMs: number
  /** In ms. */
  duplicateWindowMs: number
  /**
   * The fields the user actually wrote; only these are applied to a stream that exists (a stream
   * that is created gets every field, defaults included). Default: every field.
   */
  written?: readonly StreamField[]
}

/** Changes to a stream's config, in the server's field names. */
export type StreamChanges = Partial<Pick<StreamConfig, 'subjects' | 'num_replicas' | 'max_age' | 'duplicate_window'>>

/** The outcome of {@link planStreamUpdate}. */
export type StreamPlan =
  | { action: 'none' }
  /** `changes` holds only the fields that change; `fields` names them as `fn.config.ts` does. */
  | { action: 'update'; changes: StreamChanges; fields: StreamField[] }
  /** One line per refused field: stream, field, old and new value, and why. */
  | { action: 'refuse'; reasons: string[] }

/**
 * Plans the update of an existing stream to the fields `spec` wrote.
 *
 * Refused: fewer replicas, a subject removed (one no longer covered by any subject written), a
 * smaller `maxAge` (0 is unlimited, so 0 → anything is smaller), another storage, and a
 * duplicate window longer than the stream's resulting max age (the server refuses it).
 * Applied: subjects added or widened, more replicas, a larger or unlimited `maxAge`, any other
 * duplicate window. Fields not written are left as the server has them.
 */
export function planStreamUpdate(existing: StreamConfig, spec: StreamSpec): StreamPlan {
  const written = new Set<StreamField>(spec.written ?? STREAM_FIELDS)
  const reasons: string[] = []
  const changes: StreamChanges = {}
  const fields: StreamField[] = []
  const refuse = (field: StreamField, from: string, to: string, why: string): void => {
    reasons.push(`stream ${spec.name}: '${field}' would go from ${from} to ${to} (${why}); change it on the server yourself if you mean it`)
  }

  if (written.has('subjects')) {
    const before = existing.subjects ?? []
    const removed = before.filter((s) => !spec.subjects.some((w) => subjectCovers(w, s)))
    if (removed.length > 0) {
      const what = removed.map((s) => `'${s}'`).join(', ')
      refuse('subjects', list(before), list(spec.subjects), `removing ${what} stops storing ${removed.length === 1 ? 'its' : 'their'} messages`)
    } else if (!sameSet(before, spec.subjects)) {
      changes.subjects = [...spec.subjects]
      fields.push('subjects')
    }
  }

  if (written.has('storage')) {
    const before = existing.storage === StorageType.Memory ? 'memory' : 'file'
    if (before !== spec.storage) refuse('storage', before, spec.storage, 'the server cannot move a stream to another storage')
  }

  if (written.has('replicas')) {
    const before = existing.num_replicas || 1
    if (spec.replicas < before) refuse('replicas', String(before), String(spec.replicas), 'fewer replicas loses redundancy')
    else if (spec.replicas > before) {
      changes.num_replicas = spec.replicas
      fields.push('replicas')
    }
  }

  const maxAge = written.has('maxAge') ? nanos(spec.maxAgeMs) : (existing.max_age ?? 0)
  if (written.has('maxAge')) {
    const before = existing.max_age ?? 0
    if (limitBelow(maxAge, before)) {
      refuse('maxAge', age(before), age(maxAge), 'a smaller limit removes messages the stream keeps now')
    } else if (maxAge !== before) {
      changes.max_age = maxAge
      fields.push('maxAge')
    }
  }

  if (written.has('duplicateWindow')) {
    const before = existing.duplicate_window ?? 0
    const after = nanos(spec.duplicateWindowMs)
    if (after !== before) {
      if (maxAge > 0 && after > maxAge) {
        refuse('duplicateWindow', age(before), age(after), `longer than the stream's maxAge ${age(maxAge)}: the server refuses it`)
      } else {
        changes.duplicate_window = after
        fields.push('duplicateWindow')
      }
    }
  }

  if (reasons.length > 0) return { action: 'refuse', reasons }
  return fields.length === 0 ? { action: 'none' } : { action: 'update', changes, fields }
}

/** True when limit `after` is tighter than `before`; 0 (or less) is no limit. */
function limitBelow(after: number, before: number): boolean {
  if (after <= 0) return false
  return before <= 0 || after < before
}

/** Nanoseconds as a user writes them; 0 is unlimited. */
function age(ns: number): string {
  return ns <= 0 ? '0 (unlimited)' : `'${formatDuration(ns / 1e6)}'`
}

function list(subjects: readonly string[]): string {
  return `[${subjects.map((s) => `'${s}'`).join(', ')}]`
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x))
}

/** True when every subject that `inner` matches is matched by `outer` (`orders.>` covers `orders.*.x`). */
export function subjectCovers(outer: string, inner: string): boolean {
  const o = outer.split('.')
  const i = inner.split('.')
  for (let k = 0; k < o.length; k++) {
    const ot = o[k]!
    const it = i[k]
    if (ot === '>') return it !== undefined
    if (it === undefined || it === '>') return false
    if (ot === '*') continue
    if (it === '*' || it !== ot) return false
  }
  return o.length === i.length
}
