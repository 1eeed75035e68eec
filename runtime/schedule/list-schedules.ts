/**
 * `fn schedules`: every schedule `FN_SCHEDULES` holds (functions' cron and `@every` schedules,
 * delayed outputs, pending debounce runs), read from the stream's subjects and each one's last
 * message, with its next fire time. Reads only: no consumer is made (the stream is a work queue).
 */
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream'
import { isNotFound } from '../nats/ensure-stream.ts'
import { nextFire, parseCron } from './cron-spec.ts'
import { SCHEDULE_HOLDERS, SCHEDULES_STREAM, ScheduleHeaders } from './schedule-subjects.ts'

/** One schedule. Field names are a contract (`fn schedules --json`). */
export interface ScheduleEntry {
  /** The function it belongs to; null for a delayed message published from outside a function (`fn invoke --delay`). */
  function: string | null
  /** `cron` (a function's cron spec), `every` (its interval), `delayed` (a delayed output), `debounce` (a key's pending run). */
  kind: 'cron' | 'every' | 'delayed' | 'debounce'
  /** As the server holds it: `0 0 9 * * mon-fri`, `@every 5m`, `@at 2026-12-01T09:00:00.000Z`. */
  spec: string
  /** IANA time zone of a cron spec; null for UTC and for the other kinds. */
  timeZone: string | null
  /** Next fire time (ISO); for `@every`, counted from when the schedule was written; null when none is due. */
  next: string | null
  /** Where it delivers: a function's tick subject, or a delayed message's subject. */
  target: string
  /** Debounce: the key. */
  key?: string
  /** The subject holding the schedule in `FN_SCHEDULES`. */
  subject: string
}

/** Every schedule, sorted by function then next fire time; empty when `FN_SCHEDULES` does not exist. */
export async function listSchedules(jsm: JetStreamManager, now = new Date()): Promise<ScheduleEntry[]> {
  let subjects: Record<string, number>
  try {
    subjects = (await jsm.streams.info(SCHEDULES_STREAM, { subjects_filter: SCHEDULE_HOLDERS })).state.subjects ?? {}
  } catch (err) {
    if (isNotFound(err)) return []
    throw err
  }
  const entries: ScheduleEntry[] = []
  for (const subject of Object.keys(subjects)) {
    const m = await jsm.streams.getMessage(SCHEDULES_STREAM, { last_by_subj: subject }).catch((err: unknown) => {
      // Fired and removed since the subjects were listed.
      if (isNotFound(err)) return null
      throw err
    })
    if (m) entries.push(toEntry(subject, m, now))
  }
  return entries.sort((a, b) => (a.function ?? '').localeCompare(b.function ?? '') || (a.next ?? '~').localeCompare(b.next ?? '~'))
}

function toEntry(subject: string, m: StoredMsg, now: Date): ScheduleEntry {
  const spec = m.header.get('Nats-Schedule') ?? ''
  const tz = m.header.get('Nats-Schedule-Time-Zone') || null
  const fn = m.header.get(ScheduleHeaders.Function) || null
  const target = m.header.get(ScheduleHeaders.Target) || m.header.get('Nats-Schedule-Target') || ''
  const key = m.header.get(ScheduleHeaders.DebounceKey)
  const base = { function: fn, spec, timeZone: tz, target, subject }
  if (spec.startsWith('@at ')) {
    const at = new Date(spec.slice(4))
    const next = Number.isNaN(at.getTime()) ? null : at.toISOString()
    return subject.startsWith('fn.schedules.debounce.') ? { ...base, kind: 'debounce', next, key: key ?? '' } : { ...base, kind: 'delayed', next }
  }
  if (spec.startsWith('@every ')) return { ...base, kind: 'every', next: nextEvery(spec.slice(7), m.time, now) }
  const cron = parseCron(spec)
  const next = typeof cron === 'string' ? null : (nextFire(cron, now, tz ?? 'UTC')?.toISOString() ?? null)
  return { ...base, kind: 'cron', next }
}

/** The next tick of `@every <go duration>` written at `since`: whole intervals from then. */
function nextEvery(goDuration: string, since: Date, now: Date): string | null {
  let ms = 0
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s)/g
  for (let m = re.exec(goDuration); m; m = re.exec(goDuration)) ms += Number(m[1]) * { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 }[m[2] as 'h' | 'm' | 's' | 'ms']
  if (ms <= 0) return null
  const start = Math.floor(since.getTime() / 1000) * 1000
  const n = Math.max(1, Math.ceil((now.getTime() - start) / ms))
  return new Date(start + n * ms).toISOString()
}
