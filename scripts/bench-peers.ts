/**
 * The peers of `npm run bench -- --peers` (issue 19): what a user would pick instead of jetfn,
 * measured in the same run, on the same machine, interleaved with the throughput case's runs.
 * The hand-written loop (nats.js `consume()` + piscina, on the run's nats-server) and BullMQ on a
 * Redis from Debian's `redis-server` package, which this module starts on a free port in a temp
 * directory with persistence off, when it is installed.
 */
import { type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { spawnTied } from '../runtime/process/spawn-tied.ts'
import { addRawConsumer } from './bench-raw.ts'
import { fmtInt, msgRate, type CaseResult } from './bench-report.ts'
import { fill, freePort, median } from './bench-support.ts'
import type { BenchEnv } from './bench-jetfn.ts'
import type { PeerChildOptions } from './bench-peer-child.ts'

/** What one peer drain measured: wall time and the CPU of its process (every thread). */
export interface PeerDrain {
  ms: number
  cpuUs: number
}

/** The peer's pull size and batch, as limit.mjs mode `pool` ("batch 256 packed ack"). */
const PISCINA = { batch: 256, maxMessages: 1_000, maxAckPending: 20_000 }

/**
 * BullMQ's worker concurrency: that of case 7 and of a new user's function (512). Not case 1's
 * 4,000: with a no-op processor BullMQ drained 20,000 jobs at ~2,200 jobs/s at 4,000 against
 * ~3,900 at 512 and ~4,700 at 100 (two interleaved runs each, Nov 30 2026, load average ~9): one Redis round
 * trip per job serialises on its connection, and more jobs in flight only add bookkeeping.
 */
export const BULLMQ_CONCURRENCY = 512

/** How to get BullMQ's row when `redis-server` is missing. */
export const REDIS_MISSING = 'redis-server not installed: apt-get install redis-server'

/** A `redis-server` of this run: its port, and `stop()` (SIGTERM, then the temp dir removed). */
export interface LocalRedis {
  port: number
  version: string
  stop(): Promise<void>
}

/**
 * `$REDIS_SERVER_BIN` when set (`none`: as if not installed), else `redis-server` on PATH or in
 * /usr/bin (Debian's package); undefined when there is none.
 */
export async function findRedisServer(): Promise<string | undefined> {
  const { access, constants } = await import('node:fs/promises')
  const env = process.env.REDIS_SERVER_BIN
  if (env === 'none') return undefined
  if (env) return env
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/usr/sbin']
  for (const dir of dirs) {
    try {
      await access(join(dir, 'redis-server'), constants.X_OK)
      return join(dir, 'redis-server')
    } catch {
      // Not in this directory.
    }
  }
  return undefined
}

/**
 * Starts `redis-server` on 127.0.0.1 and a free port, in a temp dir, with no RDB snapshot and no
 * AOF (jetfn's stream is on disk; Redis would be slower with either on, and users of BullMQ often
 * turn AOF on). Resolves once it answers PING; undefined when it is not installed.
 */
export async function startRedis(log: (line: string) => void): Promise<LocalRedis | undefined> {
  const bin = await findRedisServer()
  if (!bin) return undefined
  const dir = await mkdtemp(join(tmpdir(), 'jetfn-bench-redis-'))
  const port = await freePort()
  const child: ChildProcess = spawnTied(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  const { Redis } = await import('ioredis')
  const deadline = Date.now() + 10_000
  let version = '?'
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr.trim()}`)
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    client.on('error', () => {}) // a refused connection while it starts is expected; the loop retries
    try {
      await client.connect()
      if ((await client.ping()) === 'PONG') {
        version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? '?'
        client.disconnect()
        log(`redis-server ${version} pid ${child.pid} on 127.0.0.1:${port}`)
        break
      }
    } catch {
      // Not listening yet.
    }
    client.disconnect()
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`)
    await delay(50)
  }
  return {
    port,
    version,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await exited
      }
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Drains `n` messages through the hand-written consume + piscina loop in a child process. */
export async function piscinaRun(env: BenchEnv, key: string, n: number, threads: number): Promise<PeerDrain> {
  const stream = `${key.toUpperCase()}_PISCINA`
  await env.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
  try {
    await addRawConsumer(env.jsm, stream, `${stream}.in`, PISCINA.maxAckPending)
    await fill(env.nc, env.jsm, stream, `${stream}.in`, n)
    return await peerChild({ peer: 'piscina', url: env.url, stream, n, batch: PISCINA.batch, maxMessages: PISCINA.maxMessages, threads })
  } finally {
    await env.jsm.streams.delete(stream)
  }
}

/** Adds `n` jobs in bulk (before the clock starts), then drains them with a BullMQ worker in a child. */
export async function bullmqRun(redis: LocalRedis, key: string, n: number, concurrency: number): Promise<PeerDrain> {
  const { Queue } = await import('bullmq')
  const name = `${key}_${Date.now()}`
  const queue = new Queue(name, { connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null } })
  try {
    const data = JSON.parse('{"orderId":"o-123456","items":[{"sku":"sku-apple","qty":2}]}') as unknown
    for (let i = 0; i < n; i += 1_000) {
      const jobs = Array.from({ length: Math.min(1_000, n - i) }, () => ({ name: 'event', data, opts: { removeOnComplete: true } }))
      await queue.addBulk(jobs)
    }
    const waiting = await queue.getWaitingCount()
    if (waiting !== n) throw new Error(`bullmq: the queue holds ${waiting} of ${n} jobs`)
    return await peerChild({ peer: 'bullmq', redisPort: redis.port, queue: name, n, concurrency })
  } finally {
    await queue.obliterate({ force: true })
    await queue.close()
  }
}

async function peerChild(o: PeerChildOptions): Promise<PeerDrain> {
  const child = spawnTied(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./bench-peer-child.ts', import.meta.url)), JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  const line = out.trim().split('\n').at(-1) ?? ''
  if (code !== 0 || !line.startsWith('{')) throw new Error(`${o.peer} peer exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`)
  return JSON.parse(line) as PeerDrain
}

/**
 * The rows `--peers` adds under case 1, from its details: jetfn's median rate over each peer's.
 * The piscina loop is a target (jetfn ≥ 1.0x of it, issue 19); BullMQ's ratio is shown, not judged.
 */
export function peerRows(throughput: CaseResult): CaseResult[] {
  const d = throughput.details as { messages: number; jetfnRuns: number[]; jetfnCpuUsPerMsgRuns: number[]; peers?: { piscinaRuns: PeerDrain[]; bullmqRuns: PeerDrain[]; bullmqConcurrency: number; redis: string | null } }
  if (!d.peers) return []
  const jetfn = median(d.jetfnRuns)
  const jetfnText = `${fmtInt(jetfn)} msg/s, ${median(d.jetfnCpuUsPerMsgRuns).toFixed(1)} µs CPU/msg`
  const n = d.messages
  const rates = (runs: PeerDrain[]) => runs.map((r) => msgRate(n, r.ms))
  const cpu = (runs: PeerDrain[]) => +median(runs.map((r) => r.cpuUs / n)).toFixed(1)
  const row = (key: string, title: string, runs: PeerDrain[], target: string, pass: (ratio: number) => boolean | null, how: string): CaseResult => {
    const peer = median(rates(runs))
    const ratio = jetfn / peer
    return {
      case: `peer-${key}`,
      title,
      baseline: { value: peer, unit: 'msg/s', text: `${fmtInt(peer)} msg/s, ${cpu(runs)} µs CPU/msg` },
      jetfn: { value: jetfn, unit: 'msg/s', text: jetfnText },
      comparison: { kind: 'ratio', value: +ratio.toFixed(3), text: `${ratio.toFixed(2)}x` },
      target,
      pass: pass(ratio),
      details: { messages: n, peerRuns: rates(runs), peerCpuUsPerMsg: cpu(runs), jetfnRuns: d.jetfnRuns, how },
    }
  }
  const rows = [
    row('piscina', '1a. peer: consume() + piscina', d.peers.piscinaRuns, '>= 1.0x', (r) => r >= 1, `hand-written: consume({ max_messages: ${PISCINA.maxMessages} }), batches of up to ${PISCINA.batch} packed into one transferred buffer, 2 tasks per thread, JSON.parse per message in the worker, m.ack() per message on the main thread (limit.mjs mode pool); child process; clock from consume() to the consumer drained`),
  ]
  if (d.peers.redis === null) {
    rows.push({
      case: 'peer-bullmq',
      title: `1b. peer: BullMQ, concurrency ${BULLMQ_CONCURRENCY}`,
      baseline: { value: null, unit: 'msg/s', text: REDIS_MISSING },
      jetfn: { value: jetfn, unit: 'msg/s', text: jetfnText },
      comparison: { kind: 'ratio', value: NaN, text: '-' },
      target: 'shown',
      pass: null,
      details: { missing: REDIS_MISSING },
    })
  } else {
    rows.push(row('bullmq', `1b. peer: BullMQ, concurrency ${d.peers.bullmqConcurrency}, Redis ${d.peers.redis}`, d.peers.bullmqRuns, 'shown', () => null, `bullmq Worker, no-op processor, concurrency ${d.peers.bullmqConcurrency}, removeOnComplete; ${fmtInt(n)} jobs added with addBulk before the clock; redis-server --save '' --appendonly no; child process; clock from worker.run() to no waiting or active job`))
  }
  return rows
}
