/**
 * `npm run bench`: the speed claim of jetfn (issue 7), measured against the raw nats.js loop in
 * ONE run on ONE fresh nats-server, so that every figure is a ratio to a baseline taken on the
 * same machine minutes apart. Prints a table and writes every figure to a JSON file.
 *
 *   npm run bench                                   # every case, median of 3 runs (~5 min)
 *   npm run bench -- --quick --runs 1               # small sizes: proves the script works
 *   npm run bench -- --cases throughput,cpu --runs 5 --out results.json
 *   npm run bench -- --peers                        # and the peers beside case 1 (issue 19)
 *
 * Cases: throughput (no-op drain), cpu (1 ms of CPU per message), latency (publish to handler
 * start at 2,000 msg/s), memory (peak RSS, large vs small backlog), deploy (deploy returning to
 * the first message on the new version), many (100 functions in one replica), cold (the first
 * drain of a fresh replica at concurrency 512). `--peers` adds, interleaved with case 1's runs,
 * the loop a user would write (consume() + piscina) and BullMQ on a local redis-server. After the
 * table, every target of issue 19 with its figure and met / not met.
 * Run it on a quiet machine: it measures the machine as much as the code.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { NatsServerProcess } from '../runtime/nats/nats-server-process.ts'
import { openRegistry, type BenchEnv } from './bench-jetfn.ts'
import { deployCase, latencyCase } from './bench-latency.ts'
import { memoryCase, manyCase } from './bench-process.ts'
import { mib, renderTable, type CaseResult } from './bench-report.ts'
import { calibratePbkdf2 } from './bench-support.ts'
import { coldCase } from './bench-cold.ts'
import { peerRows, REDIS_MISSING, startRedis, type LocalRedis } from './bench-peers.ts'
import { issueTargets, renderTargets } from './bench-targets.ts'
import { cpuCase, throughputCase } from './bench-throughput.ts'

const CASES = ['throughput', 'cpu', 'latency', 'memory', 'deploy', 'many', 'cold'] as const
type CaseName = (typeof CASES)[number]
/**
 * The order cases run in (the table keeps case order). The two whose replica runs in this process
 * go first: after the throughput cases have filled millions of messages through this process, its
 * heap made the latency case's p99 swing from +2 to +10 ms between runs.
 */
const RUN_ORDER: readonly CaseName[] = ['latency', 'deploy', 'throughput', 'cpu', 'cold', 'memory', 'many']

const HELP = `usage: npm run bench -- [options]
  --cases LIST   comma list of ${CASES.join(', ')} (default: all)
  --runs N       runs per throughput case (throughput, cpu, many); the median is reported (default 3)
  --peers        also measure the peers beside the throughput case: consume() + piscina, and BullMQ
                 on a redis-server started here (when installed: apt-get install redis-server)
  --quick        small sizes, for the smoke test
  --out FILE     where the JSON goes (default .fn/bench/results-<iso date>.json)`

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: CASES.join(',') },
    runs: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    peers: { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})
if (values.help) {
  console.log(HELP)
  process.exit(0)
}
const runs = Number(values.runs)
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer (got '${values.runs}')`)
const selected = values.cases.split(',').map((s) => s.trim()).filter(Boolean)
for (const c of selected) if (!(CASES as readonly string[]).includes(c)) throw new Error(`--cases: unknown case '${c}' (one of ${CASES.join(', ')})`)

const root = fileURLToPath(new URL('..', import.meta.url))
const started = new Date()
const out = resolve(values.out ?? join(root, '.fn', 'bench', `results-${started.toISOString().replace(/[:.]/g, '-')}.json`))
const log = (line: string) => process.stderr.write(`${line}\n`)
const loadAverageAtStart = loadavg()

if (values.peers && !selected.includes('throughput')) throw new Error('--peers: the peers are measured beside the throughput case; add it to --cases')

const server = await NatsServerProcess.start()
let redis: LocalRedis | undefined
const nc = await connect({ servers: server.url, noAsyncTraces: true, name: 'bench' })
const results: (CaseResult | { case: string; error: string })[] = []
let pbkdf2Iterations: number | undefined
const natsServerVersion = nc.info?.version ?? null
try {
  if (values.peers) {
    redis = await startRedis(log)
    if (!redis) log(`--peers: ${REDIS_MISSING}; the BullMQ row says so`)
  }
  const env: BenchEnv = { url: server.url, root, nc, jsm: await jetstreamManager(nc), registry: await openRegistry(nc), quick: values.quick, runs, log, ...(values.peers ? { peers: { redis } } : {}) }
  log(`nats-server ${natsServerVersion} on ${server.url}; cases ${selected.join(', ')}; runs ${runs}${values.quick ? '; quick' : ''}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  for (const name of RUN_ORDER.filter((c) => selected.includes(c))) {
    // Each case starts from a collected heap (npm run bench passes --expose-gc).
    ;(globalThis as { gc?: () => void }).gc?.()
    const t0 = performance.now()
    try {
      if (name === 'cpu') {
        pbkdf2Iterations = calibratePbkdf2(1)
        log(`cpu: ${pbkdf2Iterations} pbkdf2 iterations take about 1 ms here`)
      }
      const result = await runCase(name, env)
      results.push(result, ...(name === 'throughput' ? peerRows(result) : []))
    } catch (err) {
      log(`${name} failed: ${(err as Error).stack ?? String(err)}`)
      results.push({ case: name, error: (err as Error).message })
    }
    log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  }
} finally {
  await nc.close()
  await server.stop()
  await redis?.stop()
}

function runCase(name: CaseName, env: BenchEnv): Promise<CaseResult> {
  switch (name) {
    case 'throughput': return throughputCase(env)
    case 'cpu': return cpuCase(env, pbkdf2Iterations!)
    case 'latency': return latencyCase(env)
    case 'memory': return memoryCase(env)
    case 'deploy': return deployCase(env)
    case 'many': return manyCase(env)
    case 'cold': return coldCase(env)
  }
}

// The table and the JSON list cases in case order, whatever order they ran in; the peers' rows
// (peer-*) follow case 1 (the sort is stable).
const order = (c: string) => CASES.indexOf((c.startsWith('peer-') ? 'throughput' : c) as CaseName)
results.sort((a, b) => order(a.case) - order(b.case))
console.log(renderTable(results))
const targets = issueTargets(results)
console.log(`\n${renderTargets(targets)}`)
const many = results.find((r): r is CaseResult => r.case === 'many' && !('error' in r))
if (many) {
  type Idle = { rssBytes: number; cpuPct: number }
  const d = many.details as { perFunctionRssKiB: number; perFunctionCpuPctOfCore: number; idleNoFunctions: Idle; idleWithFunctions: Idle }
  const [with100, without] = [d.idleWithFunctions, d.idleNoFunctions]
  // Within the noise of the idle windows (GC, timers) a difference can come out negative: say so rather than print it.
  const rss = d.perFunctionRssKiB > 0 ? `${d.perFunctionRssKiB} KiB RSS` : `no measurable RSS (${mib(with100.rssBytes)} MiB with them, ${mib(without.rssBytes)} without)`
  const cpu = d.perFunctionCpuPctOfCore > 0 ? `${d.perFunctionCpuPctOfCore} % of a core` : `no measurable CPU (${with100.cpuPct} % of a core with them, ${without.cpuPct} % without)`
  console.log(`100 idle functions: ${rss} and ${cpu} per function`)
}
const report = {
  meta: {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    loadAverageAtStart,
    quick: values.quick,
    runs,
    node: process.version,
    cpus: `${availableParallelism()} x ${cpus()[0]?.model ?? '?'}`,
    natsServer: natsServerVersion,
    loadAverageAtEnd: loadavg(),
    pbkdf2Iterations: pbkdf2Iterations ?? null,
  },
  results,
  targets,
}
await mkdir(dirname(out), { recursive: true })
await writeFile(out, `${JSON.stringify(report, null, 2)}\n`)
log(`wrote ${out}`)
if (results.some((r) => 'error' in r)) process.exitCode = 1
