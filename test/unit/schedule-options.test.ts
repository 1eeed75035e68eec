import { describe, expect, it } from 'vitest'
import { resolveConfig } from '../../runtime/config/config-schema.ts'
import { FnError } from '../../runtime/errors/fn-error.ts'
import { resolveFunctionOptions } from '../../runtime/function/function-options.ts'
import { nextFire, parseCron, type CronSpec } from '../../runtime/schedule/cron-spec.ts'
import { goDuration, scheduleSpec } from '../../runtime/schedule/function-schedule.ts'
import { toOutput } from '../../runtime/pool/output.ts'
import { missingFeature } from '../../runtime/nats/server-features.ts'
import { debounceScheduleSubject, delayedSubject, subjectToken } from '../../runtime/schedule/schedule-subjects.ts'

const defaults = resolveConfig({}, { file: 'fn.config.ts', env: {} }).defaults
const resolve = (raw: object) => resolveFunctionOptions({ hasHandler: true, ...raw }, { file: 'functions/x.ts', defaults })
const failure = (raw: object): string => {
  try {
    resolve(raw)
  } catch (err) {
    if (err instanceof FnError) return err.message
    throw err
  }
  throw new Error('expected a refusal')
}
const cron = (spec: string): CronSpec => {
  const parsed = parseCron(spec)
  if (typeof parsed === 'string') throw new Error(parsed)
  return parsed
}

describe('schedule and debounce options', () => {
  it("a scheduled function's subject is its tick subject, and its consumer starts at what the queue holds", () => {
    const o = resolve({ schedule: { cron: '0 0 9 * * mon-fri', tz: 'Europe/Berlin' } })
    expect(o).toMatchObject({ name: 'x', subject: 'fn.schedule.x', schedule: { cron: '0 0 9 * * mon-fri', tz: 'Europe/Berlin' }, startFrom: 'all' })
    expect(resolve({ schedule: { every: '5m' } }).schedule).toEqual({ everyMs: 300_000 })
  })

  it('refuses a bad schedule naming the field and the value', () => {
    expect(failure({ schedule: { cron: '0 9 * * *' } })).toBe("functions/x.ts: 'schedule.cron' must have 6 fields, seconds first ('0 30 9 * * mon-fri'), or be one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly (got 5 fields in '0 9 * * *')")
    expect(failure({ schedule: { cron: '0 61 * * * *' } })).toBe("functions/x.ts: 'schedule.cron' has a bad minutes field '61': values are 0-59")
    expect(failure({ schedule: { cron: '* * * * * *', tz: 'Mars/Olympus' } })).toBe("functions/x.ts: 'schedule.tz' must be an IANA time zone such as 'Europe/Berlin' (got 'Mars/Olympus')")
    expect(failure({ schedule: { every: '500ms' } })).toBe("functions/x.ts: 'schedule.every' must be at least 1s (got '500ms')")
    expect(failure({ subject: 'a.b', schedule: { every: '1m' } })).toContain("'schedule' cannot be used with 'subject'")
    expect(failure({})).toContain("'subject' must be a subject to consume, or give 'schedule'")
  })

  it('resolves a debounce key against the subject and refuses a wildcard it lacks', () => {
    expect(resolve({ subject: 'orders.*.created', debounce: { key: { wildcard: 1 }, period: '2s' } }).debounce).toEqual({ key: { wildcard: 1, token: 1 }, periodMs: 2_000 })
    expect(resolve({ subject: 'orders.x', debounce: { key: { function: true }, period: '1s' } }).debounce).toEqual({ key: { function: true }, periodMs: 1_000 })
    expect(failure({ subject: 'orders.created', debounce: { key: { wildcard: 1 }, period: '1s' } })).toBe("functions/x.ts: 'debounce.key' is { wildcard: 1 } but the subject 'orders.created' has no '*' token")
    expect(failure({ subject: 'orders.x', debounce: { key: { header: 'K' }, period: '100ms' } })).toBe("functions/x.ts: 'debounce.period' must be at least 1s (got '100ms')")
  })

  it('writes intervals as Go durations for the server', () => {
    expect(scheduleSpec({ everyMs: 90_000 })).toBe('@every 1m30s')
    expect(goDuration(2 * 86_400_000)).toBe('48h')
    expect(scheduleSpec({ cron: '@hourly' })).toBe('@hourly')
  })
})

describe('cron next fire time', () => {
  it('counts seconds and walks the wall clock of the time zone', () => {
    expect(nextFire(cron('*/3 * * * * *'), new Date('2026-03-02T10:00:01.500Z'))?.toISOString()).toBe('2026-03-02T10:00:03.000Z')
    // Monday 2 March 2026, 09:00 in Berlin is 08:00 UTC (winter time).
    expect(nextFire(cron('0 0 9 * * mon-fri'), new Date('2026-03-02T07:00:00Z'), 'Europe/Berlin')?.toISOString()).toBe('2026-03-02T08:00:00.000Z')
    // From Friday evening: the next is Monday.
    expect(nextFire(cron('0 0 9 * * mon-fri'), new Date('2026-03-06T12:00:00Z'), 'Europe/Berlin')?.toISOString()).toBe('2026-03-09T08:00:00.000Z')
    // Summer time: 09:00 in Berlin is 07:00 UTC.
    expect(nextFire(cron('0 0 9 * * *'), new Date('2026-07-01T00:00:00Z'), 'Europe/Berlin')?.toISOString()).toBe('2026-07-01T07:00:00.000Z')
    expect(nextFire(cron('@daily'), new Date('2026-07-01T00:00:00Z'), 'Asia/Kathmandu')?.toISOString()).toBe('2026-07-01T18:15:00.000Z')
    // Day of month and day of week both restricted: either matches.
    expect(nextFire(cron('0 0 0 13 * fri'), new Date('2026-02-01T00:00:00Z'))?.toISOString()).toBe('2026-02-06T00:00:00.000Z')
    expect(nextFire(cron('0 0 0 30 2 *'), new Date('2026-01-01T00:00:00Z'))).toBeUndefined()
  })
})

describe('delayed outputs and their subjects', () => {
  const fn = { name: 'f', version: 'v', stream: 'S', bundlePath: '/x', decode: 'json' as const, timeoutMs: 1_000 }
  it('turns delay and at into a due time, and refuses what is neither', () => {
    const before = Date.now()
    const out = toOutput('a.b', { x: 1 }, { delay: '10m' }, fn)
    expect(out.at).toBeGreaterThanOrEqual(before + 600_000)
    expect(toOutput('a.b', 1, { at: new Date('2030-01-01T00:00:00Z') }, fn).at).toBe(Date.parse('2030-01-01T00:00:00Z'))
    expect(toOutput('a.b', 1, undefined, fn).at).toBeUndefined()
    expect(() => toOutput('a.b', 1, { delay: 'soon' }, fn)).toThrow(`ctx.publish: 'delay' must be a duration like '10m' or a number of ms (got "soon")`)
    expect(() => toOutput('a.b', 1, { delay: '1s', at: new Date() }, fn)).toThrow("ctx.publish: give 'delay' or 'at', not both")
    expect(() => toOutput('a.b', 1, { at: new Date('nope') }, fn)).toThrow("ctx.publish: 'at' must be a valid Date")
  })

  it('hashes keys into single, distinct subject tokens', () => {
    const subject = debounceScheduleSubject('f', 'a.b c*>')
    expect(subject).toMatch(/^fn\.schedules\.debounce\.f\.[A-Za-z0-9_-]{22}$/)
    expect(debounceScheduleSubject('f', 'a')).not.toBe(debounceScheduleSubject('f', 'b'))
    expect(debounceScheduleSubject('f', '')).not.toBe(debounceScheduleSubject('g', ''))
    expect(delayedSubject(subject)).toMatch(/^fn\.delayed\.[A-Za-z0-9_-]{22}$/)
    expect(subjectToken('x'.repeat(10_000))).toHaveLength(22)
  })

  it('names both versions when the server lacks schedules', () => {
    expect(missingFeature('delayed messages', '2.11.4')).toBe('delayed messages needs nats-server 2.12.0 or newer; the server connected is 2.11.4')
    expect(missingFeature('cron schedules', '2.12.0')).toBe('cron schedules needs nats-server 2.14.0 or newer; the server connected is 2.12.0')
  })
})
