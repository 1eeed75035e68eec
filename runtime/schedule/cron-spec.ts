/**
 * Cron specs as nats-server 2.14 reads them (ADR-51): six fields, seconds first (`0 30 9 * * mon-fri`),
 * or `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`; checked here
 * so that a deploy reports a bad field by name, and evaluated here for `fn schedules`' next fire time
 * in the schedule's IANA time zone. Day of month and day of week both restricted match either
 * (crontab(5)).
 */

const PREDEFINED: Record<string, string> = {
  '@yearly': '0 0 0 1 1 *',
  '@annually': '0 0 0 1 1 *',
  '@monthly': '0 0 0 1 * *',
  '@weekly': '0 0 0 * * 0',
  '@daily': '0 0 0 * * *',
  '@midnight': '0 0 0 * * *',
  '@hourly': '0 0 * * * *',
}

const FIELDS = [
  { name: 'seconds', min: 0, max: 59 },
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'], base: 1 },
  { name: 'day of week', min: 0, max: 6, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], base: 0 },
] as const

/** A parsed cron spec: the allowed values of each field, and whether the day fields were `*`. */
export interface CronSpec {
  seconds: Set<number>
  minutes: Set<number>
  hours: Set<number>
  days: Set<number>
  months: Set<number>
  weekdays: Set<number>
  anyDay: boolean
  anyWeekday: boolean
}

/** Parses a spec; returns why it is not one (naming the field and quoting it) instead of throwing. */
export function parseCron(spec: string): CronSpec | string {
  const expanded = PREDEFINED[spec.trim().toLowerCase()] ?? spec.trim()
  const parts = expanded.split(/\s+/)
  if (parts.length !== 6) {
    return `must have 6 fields, seconds first ('0 30 9 * * mon-fri'), or be one of ${Object.keys(PREDEFINED).join(', ')} (got ${parts.length} field${parts.length === 1 ? '' : 's'} in '${spec}')`
  }
  const sets: Set<number>[] = []
  for (const [i, part] of parts.entries()) {
    const field = FIELDS[i]!
    const set = parseField(part, field)
    if (typeof set === 'string') return `has a bad ${field.name} field '${part}': ${set}`
    sets.push(set)
  }
  return { seconds: sets[0]!, minutes: sets[1]!, hours: sets[2]!, days: sets[3]!, months: sets[4]!, weekdays: sets[5]!, anyDay: parts[3] === '*' || parts[3] === '?', anyWeekday: parts[5] === '*' || parts[5] === '?' }
}

function parseField(part: string, f: (typeof FIELDS)[number]): Set<number> | string {
  const out = new Set<number>()
  const value = (s: string): number | undefined => {
    const named = 'names' in f ? (f.names as readonly string[]).indexOf(s.toLowerCase()) : -1
    if (named >= 0 && 'base' in f) return named + f.base
    if (!/^\d+$/.test(s)) return undefined
    const n = Number(s)
    // 7 is Sunday too in crontab(5).
    if (f.name === 'day of week' && n === 7) return 0
    return n >= f.min && n <= f.max ? n : undefined
  }
  for (const item of part.split(',')) {
    const [range, stepText, extra] = item.split('/')
    if (extra !== undefined || range === undefined || range === '') return 'not a value, range, list or step'
    const step = stepText === undefined ? 1 : Number(stepText)
    if (!Number.isSafeInteger(step) || step < 1) return `step '${stepText}' is not a whole number of at least 1`
    let lo: number | undefined
    let hi: number | undefined
    if (range === '*' || range === '?') {
      lo = f.min
      hi = f.max
    } else {
      const [a, b, more] = range.split('-')
      if (more !== undefined) return 'not a value, range, list or step'
      lo = value(a!)
      hi = b === undefined ? (stepText === undefined ? lo : f.max) : value(b)
      if (lo === undefined || hi === undefined) return `values are ${f.min}-${f.max}${'names' in f ? ' or names (' + f.names.slice(0, 3).join(', ') + ', …)' : ''}`
      if (lo > hi && !(f.name === 'day of week' && hi === 0)) return `the range runs backwards`
      if (f.name === 'day of week' && hi === 0 && lo > 0) hi = 7
    }
    for (let v = lo; v <= hi; v += step) out.add(v === 7 && f.name === 'day of week' ? 0 : v)
  }
  return out
}

/** How far ahead {@link nextFire} looks, ms: a spec that matches nothing sooner (`0 0 0 30 2 *`) has none. */
const HORIZON_MS = 366 * 86_400_000 * 5

/**
 * The first instant after `from` (exclusive, whole seconds) that `spec` matches in time zone `tz`
 * (an IANA name; default UTC), or undefined when none within five years. Walks minutes in UTC and
 * reads each one's wall clock in `tz` with the offset of its hour, so skipped and repeated local
 * hours around a daylight-saving change come out as the calendar has them.
 */
export function nextFire(spec: CronSpec, from: Date, tz = 'UTC'): Date | undefined {
  const offsets = new Map<number, number>()
  const offsetAt = (ms: number): number => {
    const hour = Math.floor(ms / 3_600_000)
    let off = offsets.get(hour)
    if (off === undefined) {
      off = zoneOffsetMs(hour * 3_600_000, tz)
      offsets.set(hour, off)
    }
    return off
  }
  const start = Math.floor(from.getTime() / 1000) * 1000 + 1000
  let minute = Math.floor(start / 60_000) * 60_000
  const seconds = [...spec.seconds].sort((a, b) => a - b)
  for (const end = start + HORIZON_MS; minute < end; minute += 60_000) {
    const local = new Date(minute + offsetAt(minute))
    const dayOk = spec.days.has(local.getUTCDate())
    const weekdayOk = spec.weekdays.has(local.getUTCDay())
    const matchesDay = spec.anyDay && spec.anyWeekday ? true : spec.anyDay ? weekdayOk : spec.anyWeekday ? dayOk : dayOk || weekdayOk
    if (!matchesDay || !spec.months.has(local.getUTCMonth() + 1)) {
      // Not this day: on to 23:00 local (an hour short of midnight, so a daylight-saving shift
      // that day cannot make the walk skip the next day's first hour).
      const minuteOfDay = local.getUTCHours() * 60 + local.getUTCMinutes()
      if (minuteOfDay < 23 * 60) minute += (23 * 60 - minuteOfDay - 1) * 60_000
      continue
    }
    if (!spec.hours.has(local.getUTCHours()) || !spec.minutes.has(local.getUTCMinutes())) continue
    for (const s of seconds) {
      const at = minute + s * 1000
      if (at >= start) return new Date(at)
    }
  }
  return undefined
}

const formats = new Map<string, Intl.DateTimeFormat>()

/** The offset of time zone `tz` from UTC at instant `ms`, in ms (Europe/Berlin in winter: +3 600 000). */
export function zoneOffsetMs(ms: number, tz: string): number {
  let format = formats.get(tz)
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
    formats.set(tz, format)
  }
  const parts = format.formatToParts(new Date(ms))
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value)
  const wall = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'))
  return wall - Math.floor(ms / 1000) * 1000
}

/** Whether `tz` is an IANA time zone this Node.js knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz })
    return true
  } catch {
    // RangeError: an unknown time zone.
    return false
  }
}
