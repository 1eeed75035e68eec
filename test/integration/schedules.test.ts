/**
 * Schedules, delayed messages and debounce as a user sees them, on a real nats-server with real
 * `fn start` replicas: a function on `every: '1s'` runs once per tick across two replicas, through
 * a server restart; a cron with seconds in a time zone fires at its instants; a delayed output
 * arrives once, on time, while a replica restarts; a burst per key runs once with its last
 * message; `fn deploy` replaces and `fn rm` removes a schedule; a server too old is refused.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { deployFunctions } from '../../runtime/deploy/deploy-functions.ts'
import { loadConfig } from '../../runtime/config/load-config.ts'
import { listSchedules, type ScheduleEntry } from '../../runtime/schedule/list-schedules.ts'
import { SCHEDULES_STREAM } from '../../runtime/schedule/schedule-subjects.ts'
import { isFnError } from '../../runtime/errors/fn-error.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

/** Every JSON message stored on `subject` of stream `stream`, in order. */
async function readAll<T>(stream: string, subject: string): Promise<T[]> {
  const count = (await t.jsm.streams.info(stream, { subjects_filter: subject })).state.subjects?.[subject] ?? 0
  if (count === 0) return []
  const c = await t.js.consumers.get(stream, { filter_subjects: [subject] })
  const out: T[] = []
  for await (const m of await c.fetch({ max_messages: count, expires: 5_000 })) {
    out.push(m.json<T>())
    if (out.length === count) break
  }
  return out
}

function replica(p: Parameters<typeof spawnStart>[0], label: string): FnReplica {
  const r = spawnStart(p, t.server.url, label)
  t.replicas.push(r)
  return r
}

const live = (fn: string) => (r: Record<string, unknown>) => r.msg === 'function version live' && r.fn === fn

async function schedules(p: Parameters<typeof runFn>[0]): Promise<ScheduleEntry[]> {
  const res = await runFn(p, ['schedules', '--json'], t.server.url)
  expect(res.stderr).toBe('')
  return JSON.parse(res.stdout) as ScheduleEntry[]
}

interface Tick {
  seq: number
  scheduledAt: string
  nextAt: string | null
  ranAt: number
  /** When the server stored the tick. */
  time: string
  data: unknown
}

/** A scheduled function that publishes each run to `<prefix>.runs`. */
/** A function debounced by the first token of `<prefix>.orders.*` over 1 s; each run publishes its subject and data on `<prefix>.runs`. */
function debouncedByToken(prefix: string, name: string): string {
  return `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${name}',
  subject: '${prefix}.orders.*',
  debounce: { key: { wildcard: 1 }, period: '1s' },
  async handler(event, ctx) {
    ctx.publish('${prefix}.runs', { subject: event.subject, data: event.data })
  },
})
`
}

function tickFunction(prefix: string, name: string, schedule: string): string {
  return `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${name}',
  schedule: ${schedule},
  async handler(event, ctx) {
    ctx.publish('${prefix}.runs', { seq: event.seq, scheduledAt: event.scheduledAt?.toISOString(), nextAt: event.nextAt?.toISOString() ?? null, ranAt: Date.now(), time: event.time.toISOString(), data: event.data })
  },
})
`
}

it("every: '1s' on two replicas for 10 s runs 9 to 11 times, no tick twice, through a nats-server restart", async () => {
  const prefix = uniquePrefix()
  const fn = `${prefix}_tick`
  const p = await t.project(prefix, { 'tick.ts': tickFunction(prefix, fn, "{ every: '1s' }") })
  const deployed = await runFn(p, ['deploy'], t.server.url)
  expect(deployed.stderr).toBe('')
  const a = replica(p, 'replica a')
  const b = replica(p, 'replica b')
  await Promise.all([a.waitFor(live(fn), 'a live'), b.waitFor(live(fn), 'b live')])

  const runs = () => readAll<Tick>(prefix, `${prefix}.runs`)
  await expect.poll(async () => (await runs()).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1)
  const start = Date.parse((await runs())[0]!.scheduledAt)
  // Mid-way, the server goes down and comes back on the same store: no redeploy follows.
  await expect.poll(async () => (await runs()).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(4)
  await t.server.restart()
  await expect.poll(async () => (await runs()).some((r) => Date.parse(r.scheduledAt) >= start + 10_000), { timeout: 20_000, interval: 250 }).toBe(true)

  const window = (await runs()).filter((r) => Date.parse(r.scheduledAt) < start + 10_000)
  expect(window.length).toBeGreaterThanOrEqual(9)
  expect(window.length).toBeLessThanOrEqual(11)
  // One run per tick across both replicas: no tick (stream sequence in FN_SCHEDULES) ran twice.
  expect(new Set(window.map((r) => r.seq)).size).toBe(window.length)
  // Both replicas were there to take them; the schedule's payload and times reach the handler.
  expect(window[0]!.data).toEqual({ function: fn, schedule: '@every 1s', tz: null })
  expect(Date.parse(window[1]!.nextAt!)).toBeGreaterThan(Date.parse(window[1]!.scheduledAt))
  expect((await runFn(p, ['rm', fn], t.server.url)).code).toBe(0)
}, 60_000)

it('a cron with seconds in a time zone fires at its instants, and fn schedules shows the next one', async () => {
  const prefix = uniquePrefix()
  const fn = `${prefix}_cron`
  // Kathmandu is UTC+5:45: its hour is never the UTC hour, so a server reading the spec in UTC
  // would fire nothing. The next local hour is in the list too, in case the test crosses it.
  const hour = Number(new Intl.DateTimeFormat('en-US', { timeZone: 'Asia/Kathmandu', hour: 'numeric', hourCycle: 'h23' }).format(new Date()))
  const spec = `*/3 * ${hour},${(hour + 1) % 24} * * *`
  const p = await t.project(prefix, { 'cron.ts': tickFunction(prefix, fn, `{ cron: '${spec}', tz: 'Asia/Kathmandu' }`) })
  expect((await runFn(p, ['deploy'], t.server.url)).stderr).toBe('')
  const listed = (await schedules(p)).filter((s) => s.function === fn)
  expect(listed).toEqual([expect.objectContaining({ kind: 'cron', spec, timeZone: 'Asia/Kathmandu', target: `fn.schedule.${fn}` })])
  const next = Date.parse(listed[0]!.next!)
  expect(new Date(next).getUTCSeconds() % 3).toBe(0)
  expect(next - Date.now()).toBeLessThanOrEqual(3_000)

  const r = replica(p, 'replica')
  await r.waitFor(live(fn), 'live')
  await expect.poll(async () => (await readAll<Tick>(prefix, `${prefix}.runs`)).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(2)
  const [first, second] = await readAll<Tick>(prefix, `${prefix}.runs`)
  for (const tick of [first!, second!]) {
    expect(new Date(tick.scheduledAt).getUTCSeconds() % 3).toBe(0)
    // The server produced the tick within a second of its instant.
    expect(Date.parse(tick.time) - Date.parse(tick.scheduledAt)).toBeLessThan(1_000)
  }
  expect(Date.parse(second!.scheduledAt) - Date.parse(first!.scheduledAt)).toBe(3_000)
  expect((await runFn(p, ['rm', fn], t.server.url)).code).toBe(0)
}, 60_000)

it("ctx.publish with delay: '2s' reaches its function once, 2 s later, while a replica restarts; fn invoke --delay too", async () => {
  const prefix = uniquePrefix()
  const p = await t.project(prefix, {
    'later.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${prefix}_later',
  subject: '${prefix}.in',
  async handler(event, ctx) {
    ctx.publish('${prefix}.due', { publishedAt: Date.now() }, { delay: '2s', headers: { 'X-Trace': 'abc' } })
  },
})
`,
    'due.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${prefix}_due',
  subject: '${prefix}.due',
  async handler(event, ctx) {
    ctx.publish('${prefix}.runs', { ...(event.data as object), ranAt: Date.now(), arrivedAt: event.time.getTime(), trace: event.headers['X-Trace']?.[0] ?? null, internal: Object.keys(event.headers).filter((h) => /^(fn-|nats-sched)/i.test(h)) })
  },
})
`,
  })
  expect((await runFn(p, ['deploy'], t.server.url)).stderr).toBe('')
  const a = replica(p, 'replica a')
  const b = replica(p, 'replica b')
  await Promise.all([a.waitFor(live(`${prefix}_due`), 'a live'), b.waitFor(live(`${prefix}_due`), 'b live')])

  await t.js.publish(`${prefix}.in`, '{}')
  // Stored as a schedule; then replica a goes away and comes back before it is due.
  await expect.poll(async () => (await listSchedules(t.jsm)).filter((s) => s.function === `${prefix}_later` && s.kind === 'delayed').length, { timeout: 5_000, interval: 50 }).toBe(1)
  a.kill('SIGTERM')
  await a.exited
  const again = replica(p, 'replica a again')
  await expect.poll(async () => (await readAll(prefix, `${prefix}.runs`)).length, { timeout: 10_000 }).toBe(1)
  const [run] = await readAll<{ publishedAt: number; arrivedAt: number; ranAt: number; trace: string; internal: string[] }>(prefix, `${prefix}.runs`)
  // It reached its subject's stream 2 s (± 0.5 s) after the publish, and ran then: measured at the
  // stream rather than at the handler, whose start a loaded CI machine delays by more than the
  // schedule's own error (2.7 s once, at a load average of 18 on 2 cores).
  expect(run!.arrivedAt - run!.publishedAt).toBeGreaterThanOrEqual(1_500)
  expect(run!.arrivedAt - run!.publishedAt).toBeLessThanOrEqual(2_500)
  expect(run!.ranAt).toBeGreaterThanOrEqual(run!.arrivedAt)
  // The user's header arrives; the schedule's own do not.
  expect(run!.trace).toBe('abc')
  expect(run!.internal).toEqual([])
  await again.waitFor(live(`${prefix}_due`), 'a live again')
  // Nothing is left to fire, and it ran once only.
  await expect.poll(async () => (await listSchedules(t.jsm)).filter((s) => s.function === `${prefix}_later`).length, { timeout: 5_000 }).toBe(0)
  expect(await readAll(prefix, `${prefix}.due`)).toHaveLength(1)

  const invoked = await runFn(p, ['invoke', `${prefix}_due`, '--data', '{"publishedAt":1}', '--delay', '1s'], t.server.url)
  expect(invoked.stderr).toBe('')
  expect(invoked.stdout).toMatch(new RegExp(`^delayed: published to ${prefix}\\.due at `))
  await expect.poll(async () => (await readAll(prefix, `${prefix}.runs`)).length, { timeout: 10_000 }).toBe(2)
  for (const res of await Promise.all(['later', 'due'].map((name) => runFn(p, ['rm', `${prefix}_${name}`], t.server.url)))) expect(res.code).toBe(0)
}, 60_000)

it('debounce: 20 messages of one key within a second run once with the last; two keys run twice', async () => {
  const prefix = uniquePrefix()
  const fn = `${prefix}_deb`
  const p = await t.project(prefix, {
    'deb.ts': debouncedByToken(prefix, fn),
    // A key computed by a function of the event, in the handler threads.
    'byfn.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${prefix}_byfn',
  subject: '${prefix}.orders.*',
  debounce: { key: (event) => ((event.data as { i: number }).i >= 100 ? 'high' : 'low'), period: '1s' },
  async handler(event, ctx) {
    ctx.publish('${prefix}.runsfn', { data: event.data })
  },
})
`,
    // Another function on the same subject sees each message once: never the debounced copy.
    'all.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${prefix}_all',
  subject: '${prefix}.orders.*',
  async handler(event, ctx) {
    ctx.publish('${prefix}.all', { subject: event.subject })
  },
})
`,
  })
  expect((await runFn(p, ['deploy'], t.server.url)).stderr).toBe('')
  const r = replica(p, 'replica')
  await r.waitFor(live(fn), 'live')

  const t0 = Date.now()
  for (let i = 0; i < 20; i++) {
    await t.js.publish(`${prefix}.orders.a`, JSON.stringify({ i }))
    await t.js.publish(`${prefix}.orders.b`, JSON.stringify({ i: 100 + i }))
  }
  expect(Date.now() - t0).toBeLessThan(1_000)
  await expect.poll(async () => (await readAll(prefix, `${prefix}.runs`)).length, { timeout: 10_000 }).toBe(2)
  // Nothing more can come: no pending run of the function, and its consumer holds nothing.
  await expect.poll(async () => (await listSchedules(t.jsm)).filter((s) => s.function === fn).length, { timeout: 5_000 }).toBe(0)
  await expect.poll(async () => { const c = await t.jsm.consumers.info(prefix, `fn_${fn}`); return c.num_pending + c.num_ack_pending }, { timeout: 5_000 }).toBe(0)
  const runs = await readAll<{ subject: string; data: { i: number } }>(prefix, `${prefix}.runs`)
  expect(runs.sort((x, y) => x.subject.localeCompare(y.subject))).toEqual([
    { subject: `${prefix}.orders.a`, data: { i: 19 } },
    { subject: `${prefix}.orders.b`, data: { i: 119 } },
  ])
  await expect.poll(async () => (await readAll(prefix, `${prefix}.all`)).length, { timeout: 5_000 }).toBe(40)
  await expect.poll(async () => (await readAll<{ data: { i: number } }>(prefix, `${prefix}.runsfn`)).map((r) => r.data.i).sort((x, y) => x - y), { timeout: 5_000 }).toEqual([19, 119])
  for (const res of await Promise.all(['deb', 'all', 'byfn'].map((name) => runFn(p, ['rm', `${prefix}_${name}`], t.server.url)))) expect(res.code).toBe(0)
}, 60_000)

it('debounce: a burst of 200 messages of one key, all in the replica at once, runs once with the last stored', async () => {
  const prefix = uniquePrefix()
  const fn = `${prefix}_burst`
  const p = await t.project(prefix, {
    'burst.ts': debouncedByToken(prefix, fn),
  })
  expect((await runFn(p, ['deploy'], t.server.url)).stderr).toBe('')
  const r = replica(p, 'replica')
  await r.waitFor(live(fn), 'live')
  // Published together: the replica settles hundreds of this key's messages at once, and each
  // would replace the key's pending run (written one at a time, in this replica).
  const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => t.js.publish(`${prefix}.orders.a`, JSON.stringify({ i }))))
  const last = acks.reduce((a, b) => (b.seq > a.seq ? b : a))
  const lastI = acks.indexOf(last)
  await expect.poll(async () => (await readAll(prefix, `${prefix}.runs`)).length, { timeout: 15_000 }).toBe(1)
  await expect.poll(async () => (await listSchedules(t.jsm)).filter((s) => s.function === fn).length, { timeout: 5_000 }).toBe(0)
  await expect.poll(async () => { const c = await t.jsm.consumers.info(prefix, `fn_${fn}`); return c.num_pending + c.num_ack_pending + c.num_redelivered }, { timeout: 5_000 }).toBe(0)
  expect(await readAll<{ subject: string; data: { i: number } }>(prefix, `${prefix}.runs`)).toEqual([{ subject: `${prefix}.orders.a`, data: { i: lastI } }])
  expect((await runFn(p, ['rm', fn], t.server.url)).code).toBe(0)
}, 60_000)

it('a redeploy replaces the schedule and fn rm removes it', async () => {
  const prefix = uniquePrefix()
  const fn = `${prefix}_report`
  const p = await t.project(prefix, { 'report.ts': tickFunction(prefix, fn, "{ every: '1h' }") })
  expect((await runFn(p, ['deploy'], t.server.url)).stderr).toBe('')
  expect((await listSchedules(t.jsm)).filter((s) => s.function === fn)).toEqual([expect.objectContaining({ kind: 'every', spec: '@every 1h', timeZone: null })])

  await writeFile(join(p.functionsDir, 'report.ts'), tickFunction(prefix, fn, "{ cron: '0 0 9 * * mon-fri', tz: 'Europe/Berlin' }"))
  expect((await runFn(p, ['deploy'], t.server.url)).stderr).toBe('')
  const replaced = (await schedules(p)).filter((s) => s.function === fn)
  expect(replaced).toEqual([expect.objectContaining({ kind: 'cron', spec: '0 0 9 * * mon-fri', timeZone: 'Europe/Berlin' })])
  // The next weekday 09:00 in Berlin: 07:00 or 08:00 UTC, Monday to Friday.
  const next = new Date(replaced[0]!.next!)
  expect([7, 8]).toContain(next.getUTCHours())
  expect(next.getUTCMinutes()).toBe(0)
  expect([1, 2, 3, 4, 5]).toContain(next.getUTCDay())

  const table = await runFn(p, ['schedules'], t.server.url)
  expect(table.stdout).toMatch(new RegExp(`${fn}\\s+cron\\s+0 0 9 \\* \\* mon-fri\\s+Europe/Berlin\\s+${replaced[0]!.next!.replace(/\./g, '\\.')}`))

  expect((await runFn(p, ['rm', fn], t.server.url)).code).toBe(0)
  expect((await listSchedules(t.jsm)).filter((s) => s.function === fn)).toEqual([])
  const held = (await t.jsm.streams.info(SCHEDULES_STREAM, { subjects_filter: `fn.*.*.${fn}` })).state.subjects ?? {}
  expect(held).toEqual({})
}, 30_000)

it('a server without cron schedules refuses the deploy, naming the versions needed and connected', async () => {
  const prefix = uniquePrefix()
  const p = await t.project(prefix, {
    'tick.ts': tickFunction(prefix, `${prefix}_tick`, "{ every: '1m' }"),
    'deb.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({ name: '${prefix}_deb', subject: '${prefix}.x.*', debounce: { key: { header: 'K' }, period: '1s' }, handler() {} })
`,
  })
  const { config } = { config: await loadConfig({ file: p.configFile }) }
  const deploy = (version: string) =>
    deployFunctions({ config, registry: t.registry, jsm: t.jsm, server: { ...t.nc.info!, version }, files: [join(p.functionsDir, 'tick.ts'), join(p.functionsDir, 'deb.ts')], home: join(p.dir, '.fn') })
  const old = await deploy('2.11.3').then(() => undefined, (err: unknown) => err)
  expect(isFnError(old) && old.code).toBe('FN_SERVER_UNSUPPORTED')
  expect((old as Error).message).toContain('tick.ts: cron schedules needs nats-server 2.14.0 or newer; the server connected is 2.11.3')
  expect((old as Error).message).toContain('deb.ts: delayed messages needs nats-server 2.12.0 or newer; the server connected is 2.11.3')
  const between = await deploy('2.13.0').then(() => undefined, (err: unknown) => err)
  expect((between as Error).message).toMatch(/^\S*tick\.ts: cron schedules needs nats-server 2\.14\.0 or newer; the server connected is 2\.13\.0$/)
  // Nothing was written.
  expect(await t.registry.get(`${prefix}_tick`)).toBeUndefined()
  expect(await t.registry.get(`${prefix}_deb`)).toBeUndefined()
})
