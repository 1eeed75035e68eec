/**
 * The names of jetfn's schedule stream (DESIGN: names are a contract): one stream of jetfn's own,
 * `FN_SCHEDULES`, holds every schedule and what the schedules produce, because a schedule and its
 * target must share a stream (ADR-51) and `allow_msg_schedules` cannot be turned off once on:
 * users' streams are never switched to schedules.
 *
 * | subject | holds |
 * |---|---|
 * | `fn.schedules.cron.<function>` | the cron or `@every` schedule of a function (`schedule`) |
 * | `fn.schedule.<function>` | its ticks: the function's consumer `fn_<function>` reads them |
 * | `fn.schedules.at.<token>` | a delayed output (`ctx.publish(…, { delay })`, `fn invoke --delay`): one `@at` schedule |
 * | `fn.schedules.debounce.<function>.<token>` | the pending run of one debounce key: one `@at` schedule, replaced per message |
 * | `fn.delayed.<token>` | what an `@at` schedule produced: the relay consumer `fn_delayed` publishes it to its real subject |
 */
import { createHash } from 'node:crypto'

/** The stream of schedules. */
export const SCHEDULES_STREAM = 'FN_SCHEDULES'
/** The subjects of {@link SCHEDULES_STREAM}. */
export const SCHEDULES_SUBJECTS = ['fn.schedule.*', 'fn.schedules.>', 'fn.delayed.*'] as const
/** Every schedule message (what `fn schedules` lists). */
export const SCHEDULE_HOLDERS = 'fn.schedules.>'
/** What the `@at` schedules produce; the relay consumer's filter. */
export const DELAYED_FILTER = 'fn.delayed.*'
/**
 * The durable consumer that publishes due delayed messages to their subjects, shared by every
 * replica. Not `fn_<function>`-shaped with a function's name: `delayed` is a valid function name,
 * but a function's consumer is on `FN_SCHEDULES` only for a `schedule` function, whose filter
 * (`fn.schedule.delayed`) differs, and the stream refuses two consumers with one filter.
 */
export const RELAY_CONSUMER = 'fn_delayed'

/** Where a scheduled function's ticks arrive: its consumer's filter subject. */
export function tickSubject(fn: string): string {
  return `fn.schedule.${fn}`
}

/** The subject holding a scheduled function's cron or `@every` schedule. */
export function cronScheduleSubject(fn: string): string {
  return `fn.schedules.cron.${fn}`
}

/** The subject holding one delayed output's `@at` schedule. */
export function delayScheduleSubject(token: string): string {
  return `fn.schedules.at.${token}`
}

/** Every pending debounce run of a function. */
export function debounceSchedules(fn: string): string {
  return `fn.schedules.debounce.${fn}.*`
}

/** The subject holding the pending run of one debounce key. */
export function debounceScheduleSubject(fn: string, key: string): string {
  return `fn.schedules.debounce.${fn}.${subjectToken(`${fn}\u0000${key}`)}`
}

/** Where an `@at` schedule delivers, for the relay to forward. */
export function delayedSubject(scheduleSubject: string): string {
  return `fn.delayed.${subjectToken(scheduleSubject)}`
}

/**
 * Any string as one subject token: 22 characters of base64url of its SHA-256 (128 bits), so a
 * key of any bytes, length or dots is safe in a subject and two keys never share one by chance.
 */
export function subjectToken(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22)
}

/** Headers jetfn sets on schedule messages (copied by the server into what they produce). */
export const ScheduleHeaders = {
  /** The function that wrote the schedule (its own cron, a debounce key, or a delayed output). */
  Function: 'Fn-Function',
  /** The subject a delayed message is published to when due. */
  Target: 'Fn-Target',
  /** The `Nats-Msg-Id` the relay publishes with: the output's own id, so a redelivery is dropped. */
  MsgId: 'Fn-Msg-Id',
  /** Debounce: the key, as computed (for `fn schedules`). */
  DebounceKey: 'Fn-Debounce-Key',
  /** Debounce: the function whose handler runs the message when it comes back (never debounced again). */
  Debounced: 'Fn-Debounced',
  /** Debounce: stream sequence of the message held, so an older one never replaces a newer. */
  SourceSeq: 'Fn-Source-Seq',
} as const
