/**
 * A `schedule` function's schedule message: written by `fn deploy` (replaced when it changes,
 * left alone when it does not, so that an `@every` keeps its rhythm across redeploys), and
 * removed with its pending ticks by `fn rm` or a redeploy without `schedule`.
 */
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { ResolvedSchedule } from '../function/function-options.ts'
import { isNotFound } from '../nats/ensure-stream.ts'
import { cronScheduleSubject, debounceSchedules, SCHEDULES_STREAM, ScheduleHeaders, tickSubject } from './schedule-subjects.ts'

/** The `Nats-Schedule` header value of a schedule: the cron spec, or `@every <duration>`. */
export function scheduleSpec(schedule: ResolvedSchedule): string {
  return 'cron' in schedule ? schedule.cron : `@every ${goDuration(schedule.everyMs)}`
}

/** A duration as Go's `time.ParseDuration` reads it (no days): `90000` is `1m30s`, `36h` stays hours. */
export function goDuration(ms: number): string {
  let rest = Math.round(ms)
  let out = ''
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1_000], ['ms', 1]] as const) {
    const whole = Math.floor(rest / size)
    if (whole > 0) out += `${whole}${unit}`
    rest -= whole * size
  }
  return out || '0s'
}

/** The payload of every tick: what a handler finds in `event.data`. */
export function tickPayload(fn: string, schedule: ResolvedSchedule): { function: string; schedule: string; tz: string | null } {
  return { function: fn, schedule: scheduleSpec(schedule), tz: 'cron' in schedule ? (schedule.tz ?? null) : null }
}

/**
 * Makes the stored schedule of `fn` match `schedule`; returns whether it wrote one. A schedule
 * the server refuses (a spec it reads otherwise, a time zone it has no tzdata for) throws its error.
 */
export async function writeSchedule(js: JetStreamClient, jsm: JetStreamManager, fn: string, schedule: ResolvedSchedule): Promise<boolean> {
  const spec = scheduleSpec(schedule)
  const tz = 'cron' in schedule ? schedule.tz : undefined
  const current = await jsm.streams.getMessage(SCHEDULES_STREAM, { last_by_subj: cronScheduleSubject(fn) }).catch((err: unknown) => {
    if (isNotFound(err)) return null
    throw err
  })
  if (current && current.header.get('Nats-Schedule') === spec && (current.header.get('Nats-Schedule-Time-Zone') || undefined) === tz) return false
  const h: MsgHdrs = natsHeaders()
  h.set(ScheduleHeaders.Function, fn)
  await js.publish(cronScheduleSubject(fn), JSON.stringify(tickPayload(fn, schedule)), {
    headers: h,
    schedule: { specification: spec, target: tickSubject(fn), ...(tz ? { timezone: tz } : {}) },
  })
  return true
}

/**
 * Removes what `FN_SCHEDULES` holds for a function: its schedule and pending tick, and its pending
 * debounce runs. Nothing to remove (or no stream) is fine.
 */
export async function removeSchedules(jsm: JetStreamManager, fn: string): Promise<void> {
  for (const filter of [cronScheduleSubject(fn), tickSubject(fn), debounceSchedules(fn)]) {
    try {
      await jsm.streams.purge(SCHEDULES_STREAM, { filter })
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
  }
}
