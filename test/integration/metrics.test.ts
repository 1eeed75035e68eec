/**
 * A replica's HTTP endpoints as an operator scrapes them: `fn start` (a real process) serving
 * `/metrics` in the Prometheus text format, whose counters match what was published and whose
 * gauges match JetStream; `/readyz` turning 503 while the nats-server is gone and 200 once it is
 * back (that test starts a server of its own, since it kills it).
 */
import { rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { jetstream } from '@nats-io/jetstream'
import { connectTo } from '../helpers/connect.ts'
import { type DevProject, deadFunctionSource, okFunctionSource } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

/** A port nobody listens on right now: bound by the OS, then released for the replica. */
async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as { port: number }
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses the Prometheus text format; throws on a line that is neither a comment nor a sample. */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = SAMPLE.exec(line)
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(LABEL)) labels[k!] = v!
    // Go's ParseFloat, which Prometheus uses, takes NaN in any case (prom-client writes `Nan`).
    const raw = m[3]!
    const value = /^nan$/i.test(raw) ? NaN : raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw)
    if (Number.isNaN(value) && !/^nan$/i.test(raw)) throw new Error(`bad value in: ${line}`)
    out.push({ name: m[1]!, labels, value })
  }
  return out
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (found.length > 1) throw new Error(`${found.length} samples match ${name} ${JSON.stringify(labels)}`)
  return found[0]?.value
}

async function scrape(port: number): Promise<{ text: string; samples: Sample[]; contentType: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  expect(res.status).toBe(200)
  const text = await res.text()
  return { text, samples: parseMetrics(text), contentType: res.headers.get('content-type') }
}

async function readyz(port: number): Promise<{ status: number; body: { ready: boolean; problems: string[] } }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`)
  return { status: res.status, body: (await res.json()) as { ready: boolean; problems: string[] } }
}

/** Function sources: `ok` resolves, `dead` is non-retryable, `flaky` fails its first delivery, `block` waits for a latch file. */
function functions(prefix: string, latch: string): Record<string, string> {
  return {
    'ok.ts': okFunctionSource(prefix),
    'dead.ts': deadFunctionSource(prefix),
    'flaky.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${prefix}_flaky',
  subject: '${prefix}.in.flaky',
  retry: { maxDeliver: 3, backoff: ['10ms'], jitter: 0 },
  async handler(event) {
    if (event.deliveries === 1) throw new Error('first try fails')
  },
})
`,
    'block.ts': `import { existsSync } from 'node:fs'
import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${prefix}_block',
  subject: '${prefix}.in.block',
  concurrency: 1,
  async handler() {
    // Mid-flight fixture: holds until the test creates the latch file.
    while (!existsSync(${JSON.stringify(latch)})) await new Promise((r) => setTimeout(r, 10))
  },
})
`,
  }
}

function project(prefix: string, port: number, fns: Record<string, string>): Promise<DevProject> {
  return t.project(prefix, fns, { http: { port }, shutdownGrace: '2s' })
}

function start(p: DevProject, url: string): FnReplica {
  const r = spawnStart(p, url)
  t.replicas.push(r)
  return r
}

async function deployAndStart(p: DevProject, url: string, names: string[]): Promise<FnReplica> {
  const deployed = await runFn(p, ['deploy'], url)
  expect(deployed.stderr).toBe('')
  expect(deployed.code).toBe(0)
  const replica = start(p, url)
  for (const name of names) await replica.waitFor((r) => r.msg === 'function version live' && r.fn === name, `${name} live`)
  await replica.waitFor((r) => r.msg === 'replica ready', 'replica ready')
  return replica
}

describe('/metrics', () => {
  it('counts invocations by outcome, dead letters by kind and durations; reads in flight, pending and pool threads live', async () => {
    const prefix = uniquePrefix()
    const port = await freePort()
    const latch = join(tmpdir(), `${prefix}.latch`)
    t.cleanup.push(() => rm(latch, { force: true }))
    const p = await project(prefix, port, functions(prefix, latch))
    const fn = (n: string) => `${prefix}_${n}`
    await deployAndStart(p, t.server.url, [fn('ok'), fn('dead'), fn('flaky'), fn('block')])

    // Before any traffic: the series exist, at zero.
    const before = (await scrape(port)).samples
    expect(value(before, 'jetfn_pool_threads')).toBe(2)
    expect(value(before, 'jetfn_nats_reconnects_total')).toBe(0)

    const publish = (n: string, count: number) =>
      Promise.all(Array.from({ length: count }, (_, i) => t.js.publish(`${prefix}.in.${n}`, JSON.stringify({ i }))))
    await Promise.all([publish('ok', 5), publish('dead', 3), publish('flaky', 2), publish('block', 4)])

    const settled = (s: Sample[]) => ({
      ok: value(s, 'jetfn_invocations_total', { fn: fn('ok'), outcome: 'ok' }),
      dead: value(s, 'jetfn_invocations_total', { fn: fn('dead'), outcome: 'dead-lettered' }),
      flakyRetried: value(s, 'jetfn_invocations_total', { fn: fn('flaky'), outcome: 'retried' }),
      flakyOk: value(s, 'jetfn_invocations_total', { fn: fn('flaky'), outcome: 'ok' }),
      // `block` runs one at a time: one running and one prefetched are held, two wait in the stream.
      blockHeld: value(s, 'jetfn_in_flight', { fn: fn('block') }),
      blockPending: value(s, 'jetfn_consumer_pending', { fn: fn('block') }),
    })
    await expect
      .poll(async () => settled((await scrape(port)).samples), { timeout: 20_000, interval: 100 })
      .toEqual({ ok: 5, dead: 3, flakyRetried: 2, flakyOk: 2, blockHeld: 2, blockPending: 2 })

    const { text, samples, contentType } = await scrape(port)
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(text).toContain('# TYPE jetfn_invocations_total counter')
    expect(text).toContain('# TYPE jetfn_invocation_duration_seconds histogram')
    expect(text).toContain('# TYPE jetfn_in_flight gauge')

    expect(value(samples, 'jetfn_invocations_total', { fn: fn('ok'), outcome: 'retried' })).toBe(0)
    expect(value(samples, 'jetfn_invocations_total', { fn: fn('ok'), outcome: 'dead-lettered' })).toBe(0)
    expect(value(samples, 'jetfn_invocations_total', { fn: fn('dead'), outcome: 'ok' })).toBe(0)
    expect(value(samples, 'jetfn_dlq_published_total', { fn: fn('dead'), error_kind: 'non-retryable' })).toBe(3)
    expect(value(samples, 'jetfn_dlq_published_total', { fn: fn('ok') })).toBeUndefined()
    // What the counters say is what JetStream holds.
    const dlqSubject = `fn.dlq.${fn('dead')}`
    expect((await t.jsm.streams.info('FN_DLQ', { subjects_filter: dlqSubject })).state.subjects?.[dlqSubject]).toBe(3)

    // The histogram: cumulative buckets ending in +Inf = count; every handler ran.
    const buckets = samples.filter((s) => s.name === 'jetfn_invocation_duration_seconds_bucket' && s.labels.fn === fn('ok'))
    expect(buckets.length).toBeGreaterThan(5)
    expect(buckets.map((b) => b.value)).toEqual([...buckets.map((b) => b.value)].sort((a, b) => a - b))
    expect(buckets.at(-1)).toEqual({ name: 'jetfn_invocation_duration_seconds_bucket', labels: { fn: fn('ok'), le: '+Inf' }, value: 5 })
    expect(value(samples, 'jetfn_invocation_duration_seconds_count', { fn: fn('ok') })).toBe(5)
    expect(value(samples, 'jetfn_invocation_duration_seconds_sum', { fn: fn('ok') })).toBeGreaterThan(0)
    expect(value(samples, 'jetfn_invocation_duration_seconds_count', { fn: fn('flaky') })).toBe(4)

    // Gauges agree with JetStream and the pool.
    const block = await t.jsm.consumers.info(prefix, `fn_${fn('block')}`)
    expect(block.num_pending).toBe(2)
    expect(block.num_ack_pending).toBe(2)
    expect(value(samples, 'jetfn_consumer_redelivered', { fn: fn('flaky') })).toBe(0)
    expect(value(samples, 'jetfn_consumer_pending', { fn: fn('ok') })).toBe(0)
    expect(value(samples, 'jetfn_in_flight', { fn: fn('ok') })).toBe(0)
    expect(value(samples, 'jetfn_pool_threads')).toBe(2)
    expect(value(samples, 'jetfn_pool_threads_busy')).toBeGreaterThanOrEqual(1)
    // prom-client's default process metrics.
    expect(value(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0)
    expect(value(samples, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0)

    // A scrape storm costs JetStream next to nothing: consumer info is reused for a second. Four
    // functions, 20 scrapes: at most a refresh or two of four requests, not 80.
    const apiCalls = async () => ((await (await fetch(`http://127.0.0.1:${t.server.monitorPort}/jsz`)).json()) as { api: { total: number } }).api.total
    const callsBefore = await apiCalls()
    await Promise.all(Array.from({ length: 20 }, () => scrape(port)))
    expect((await apiCalls()) - callsBefore).toBeLessThanOrEqual(8)

    await writeFile(latch, '')
    await expect
      .poll(async () => {
        const s = (await scrape(port)).samples
        return [value(s, 'jetfn_invocations_total', { fn: fn('block'), outcome: 'ok' }), value(s, 'jetfn_in_flight', { fn: fn('block') })]
      }, { timeout: 20_000, interval: 100 })
      .toEqual([4, 0])
  })
})

describe('/readyz', () => {
  it('is 503 with the reason while the nats-server is gone, 200 again once it is back', async () => {
    const own = await startServer()
    t.cleanup.push(() => own.stop())
    const prefix = uniquePrefix()
    const port = await freePort()
    const p = await project(prefix, port, {
      'ok.ts': okFunctionSource(prefix),
    })
    await deployAndStart(p, own.url, [`${prefix}_ok`])
    expect(await readyz(port)).toEqual({ status: 200, body: { ready: true, problems: [] } })
    const healthz = await fetch(`http://127.0.0.1:${port}/healthz`)
    expect(healthz.status).toBe(200)

    own.kill('SIGKILL')
    await own.waitForExit()
    await expect.poll(async () => (await readyz(port)).status, { timeout: 10_000, interval: 50 }).toBe(503)
    const unready = (await readyz(port)).body
    expect(unready.ready).toBe(false)
    expect(unready.problems).toContain('not connected to NATS')
    // Still alive, and still scrapeable: figures that need the server are left out, not stale.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200)
    const down = (await scrape(port)).samples
    expect(value(down, 'jetfn_consumer_pending', { fn: `${prefix}_ok` })).toBeUndefined()

    await own.restart()
    await expect.poll(async () => (await readyz(port)).status, { timeout: 20_000, interval: 50 }).toBe(200)
    const after = (await scrape(port)).samples
    expect(value(after, 'jetfn_nats_reconnects_total')).toBe(1)

    // And it serves again.
    const c = await connectTo(own.url)
    t.cleanup.push(() => c.close())
    await jetstream(c).publish(`${prefix}.in.ok`, '{}')
    await expect
      .poll(async () => value((await scrape(port)).samples, 'jetfn_invocations_total', { fn: `${prefix}_ok`, outcome: 'ok' }), { timeout: 20_000, interval: 100 })
      .toBe(1)
  })
})
