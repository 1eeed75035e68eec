/**
 * Finds the stream a function's subject belongs to: first among the streams of `fn.config.ts`,
 * then among those already on the server.
 */
import type { JetStreamManager } from '@nats-io/jetstream'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { SCHEDULES_STREAM, SCHEDULES_SUBJECTS } from '../schedule/schedule-subjects.ts'

/** True when every subject matching `subject` also matches `pattern` (NATS wildcards `*` and `>`). */
export function subjectWithin(subject: string, pattern: string): boolean {
  const s = subject.split('.')
  const p = pattern.split('.')
  for (let i = 0; i < p.length; i++) {
    const pt = p[i]!
    if (pt === '>') return s.length > i
    const st = s[i]
    if (st === undefined) return false
    if (pt === '*') {
      if (st === '>') return false
      continue
    }
    if (st !== pt) return false
  }
  return s.length === p.length
}

export async function findStream(
  subject: string,
  configured: ReadonlyArray<{ name: string; subjects: readonly string[] }>,
  jsm: JetStreamManager,
  fnFile: string,
): Promise<string> {
  // A `schedule` function's ticks (fn.schedule.<name>) are in jetfn's own stream.
  if (ownStreamOf(subject)) return SCHEDULES_STREAM
  const local = configured.find((s) => s.subjects.some((p) => subjectWithin(subject, p)))
  if (local) return local.name
  const names: string[] = []
  try {
    const found = await jsm.streams.find(subject)
    if (found) names.push(found)
  } catch (err) {
    // streams.find rejects when no stream matches; any other failure is reported below too.
    if (!/no stream matches/i.test(String((err as Error).message))) throw err
  }
  for (const name of names) {
    const info = await jsm.streams.info(name)
    if ((info.config.subjects ?? []).some((p) => subjectWithin(subject, p))) return name
  }
  throw new FnError(FnErrorCode.StreamNotFound, `${fnFile}: subject '${subject}' is in no stream of fn.config.ts nor on the server`, {
    hint: `add a stream to fn.config.ts, e.g. streams: [{ name: 'EVENTS', subjects: ['${subject.split('.')[0]}.>'] }]`,
  })
}

/** jetfn's own stream that `subject` is in (`FN_SCHEDULES` for a scheduled function's ticks), if any. */
export function ownStreamOf(subject: string): string | undefined {
  return SCHEDULES_SUBJECTS.some((p) => subjectWithin(subject, p)) ? SCHEDULES_STREAM : undefined
}
