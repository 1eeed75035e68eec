/**
 * Pieces the benchmark shares: backlogs, waiting for a consumer to drain, function projects
 * written from strings, `fn start` processes, /proc readers, statistics and the CPU burner.
 */
import { type ChildProcess } from 'node:child_process'
import { spawnTied } from '../runtime/process/spawn-tied.ts'
import { pbkdf2Sync } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { jetstream, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'

/** About 60 bytes of JSON: a small event, as in the issue. */
export const PAYLOAD = '{"orderId":"o-123456","items":[{"sku":"sku-apple","qty":2}]}'

/** CLOCK_MONOTONIC in µs: the same clock in every thread and process on Linux. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

/**
 * Fills a backlog with core publishes and a flush every 1,000 (about 4x `js.publish`, NATS-NOTES),
 * then waits until the stream holds every message: a core publish is not confirmed one by one, and
 * a server whose JetStream ingest queue is full drops core publishes (seen: 3,000 of 200,000 under
 * load). What the stream has not stored once it stops growing is published again with
 * `js.publish`, confirmed one by one, so the backlog is always exactly `n`.
 */
export async function fill(nc: NatsConnection, jsm: JetStreamManager, stream: string, subject: string, n: number): Promise<void> {
  const before = (await jsm.streams.info(stream)).state.messages
  for (let i = 0; i < n; i++) {
    nc.publish(subject, PAYLOAD)
    if (i % 1000 === 999) await nc.flush()
  }
  await nc.flush()
  const stored = async () => (await jsm.streams.info(stream)).state.messages - before
  const deadline = Date.now() + 30_000
  let have = await stored()
  let still = 0
  while (have < n) {
    if (Date.now() > deadline) throw new Error(`fill: ${stream} stored ${have} of ${n} messages`)
    await delay(20)
    const now = await stored()
    still = now === have ? still + 1 : 0
    have = now
    if (still < 25) continue
    const js = jetstream(nc)
    for (let i = have; i < n; i++) await js.publish(subject, PAYLOAD)
    have = await stored()
  }
  if (have > n) throw new Error(`fill: ${stream} stored ${have} messages, ${have - n} more than the ${n} published`)
}

/** Resolves once the consumer exists, has delivered something, and has nothing pending or unacked. */
export async function waitDrained(jsm: JetStreamManager, stream: string, consumer: string, opts: { pollMs?: number; timeoutMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 600_000)
  for (;;) {
    try {
      const info = await jsm.consumers.info(stream, consumer)
      // consumer_seq counts deliveries: a consumer that skipped the backlog (startFrom new) never drains.
      if (info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.consumer_seq > 0) return
    } catch {
      // The replica has not created its consumer yet.
    }
    if (Date.now() > deadline) throw new Error(`consumer ${stream}/${consumer} did not drain in time`)
    await delay(opts.pollMs ?? 20)
  }
}

/** A throwaway project: `<root>/.fn/bench/<name>/` with `functions/` and an `fn.config.ts`. */
export interface BenchProject {
  dir: string
  functionsDir: string
  configFile: string
  /** Writes `functions/<file>.ts` and returns its path. */
  addFunction(file: string, source: string): Promise<string>
}

/** `httpPort`: where an `fn start` of this project serves `/readyz` (default 0: not at all). */
export async function benchProject(root: string, name: string, opts: { httpPort?: number } = {}): Promise<BenchProject> {
  const dir = join(root, '.fn', 'bench', name)
  const functionsDir = join(dir, 'functions')
  await mkdir(functionsDir, { recursive: true })
  const configFile = join(dir, 'fn.config.ts')
  await writeFile(configFile, `import { defineConfig } from 'jetfn'\nexport default defineConfig({ functionsDir: ${JSON.stringify(functionsDir)}, http: { port: ${opts.httpPort ?? 0} } })\n`)
  return {
    dir,
    functionsDir,
    configFile,
    async addFunction(file, source) {
      const path = join(functionsDir, `${file}.ts`)
      await writeFile(path, source)
      return path
    },
  }
}

/**
 * Source of a function file: `handler` is the body of `async handler(event, ctx) { … }`. Its
 * `startFrom` is 'all': the benchmark fills a backlog first and then deploys onto it.
 */
export function functionSource(opts: { name: string; subject: string; concurrency?: number; handler?: string; imports?: string; decode?: 'json' | 'binary' }): string {
  const concurrency = (opts.concurrency === undefined ? '' : `, concurrency: ${opts.concurrency}`) + (opts.decode ? `, decode: '${opts.decode}'` : '') + ", startFrom: 'all'"
  return `import { defineFunction } from 'jetfn'
${opts.imports ?? ''}
export default defineFunction({
  name: '${opts.name}', subject: '${opts.subject}'${concurrency},
  async handler(event, ctx) { ${opts.handler ?? ''} },
})
`
}

/**
 * `fn start --config <file>` as a child process: a replica as a user runs it, through the `fn`
 * executable itself, so that the node flags of its shebang apply.
 */
export function startFnProcess(root: string, configFile: string, url: string): ChildProcess {
  return spawnTied(join(root, 'bin', 'fn.js'), ['start', '--config', configFile], { cwd: root, env: { ...process.env, NATS_URL: url }, stdio: 'ignore' })
}

/** A free TCP port on loopback (for an `fn start` child's health server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Resolves once `/readyz` on `port` answers 200: connected, and every function's consumer running. */
export async function waitReady(port: number, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`fn start exited with ${child.exitCode} before it was ready`)
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`)
      if (res.status === 200) return
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`fn start on port ${port} not ready within ${timeoutMs} ms`)
    await delay(50)
  }
}

/** Sends SIGTERM and waits for the exit (SIGKILL after 15 s). */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

/** `VmHWM` (peak RSS) and `VmRSS` of a process, in bytes, from /proc/<pid>/status. */
export async function procMemory(pid: number): Promise<{ hwm: number; rss: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024
  return { hwm: kb('VmHWM'), rss: kb('VmRSS') }
}

/** utime + stime of a process in µs (100 Hz ticks), from /proc/<pid>/stat. */
export async function procCpuUs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** p50, p99 and max of latencies in µs, reported in ms. */
export function percentiles(us: Float64Array | number[]): { p50Ms: number; p99Ms: number; maxMs: number; count: number } {
  const s = Float64Array.from(us).sort()
  const at = (q: number) => +(s[Math.min(s.length - 1, Math.floor(q * s.length))]! / 1000).toFixed(2)
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: +(s[s.length - 1]! / 1000).toFixed(2), count: s.length }
}

/** pbkdf2 iterations that take about `targetMs` of CPU on this machine (median of several probes). */
export function calibratePbkdf2(targetMs: number): number {
  const probe = 20_000
  for (let i = 0; i < 3; i++) pbkdf2Sync('jetfn', 'salt', probe, 32, 'sha256')
  const times: number[] = []
  for (let i = 0; i < 9; i++) {
    const t = performance.now()
    pbkdf2Sync('jetfn', 'salt', probe, 32, 'sha256')
    times.push(performance.now() - t)
  }
  return Math.max(1, Math.round((probe * targetMs) / median(times)))
}
