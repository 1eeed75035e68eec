/**
 * Drains one backlog through a no-op (or `--work N` pbkdf2 iterations) function in an in-process
 * replica and prints the rate: the loop to profile the hot path with.
 *
 *   npx tsx scripts/profile-drain.ts [--n 200000] [--work 0] [--concurrency 4000] [--binary] [--from source|dist]
 *
 * `--from dist` runs the replica (main thread and pool threads) from the built package
 * (`npm run build`) instead of the TypeScript source through tsx; the script itself and the
 * deploy stay on the source. tsx leaves plain .js files alone, so the dist side runs untransformed.
 *   JETFN_WORKER_EXEC_ARGV="--cpu-prof --cpu-prof-dir=/tmp/prof" \
 *     npx tsx scripts/profile-drain.ts --prof /tmp/prof
 *
 * `--prof DIR` writes the main thread's CPU profile of the drain alone (deploy to drained, not the
 * backlog fill) to DIR/main.cpuprofile, through `node:inspector`; with `--heap` also what the main
 * thread allocated meanwhile, sampled, to DIR/main.heapprofile (open either in Chrome's DevTools).
 */
import { readdir, readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { Session } from 'node:inspector/promises'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { NatsServerProcess } from '../runtime/nats/nats-server-process.ts'
import { addRawConsumer, rawDrain } from './bench-raw.ts'
import { deploy, deployAndDrain, waitConsumers, inProcessReplica, openRegistry, type BenchEnv } from './bench-jetfn.ts'
import { benchProject, fill, functionSource, procCpuUs } from './bench-support.ts'

const { values } = parseArgs({ options: { n: { type: 'string', default: '200000' }, work: { type: 'string', default: '0' }, concurrency: { type: 'string', default: '4000' }, raw: { type: 'boolean', default: false }, binary: { type: 'boolean', default: false }, idle: { type: 'string', default: '0' }, from: { type: 'string', default: 'source' }, prof: { type: 'string' }, heap: { type: 'boolean', default: false } } })
if (values.from !== 'source' && values.from !== 'dist') throw new Error(`--from must be source or dist (got ${values.from})`)
const n = Number(values.n)
const work = Number(values.work)
const root = fileURLToPath(new URL('..', import.meta.url))
const server = await NatsServerProcess.start()
const nc = await connect({ servers: server.url, noAsyncTraces: true })
try {
  const env: BenchEnv = { url: server.url, root, nc, jsm: await jetstreamManager(nc), registry: await openRegistry(nc), quick: false, runs: 1, log: console.log }
  const project = await benchProject(root, 'profile')
  await env.jsm.streams.add({ name: 'PROFILE', subjects: ['PROFILE.>'] })
  await fill(nc, env.jsm, 'PROFILE', 'PROFILE.in', n)
  if (values.raw) {
    await addRawConsumer(env.jsm, 'PROFILE', 'PROFILE.in', 20_000)
    const cpu0 = process.cpuUsage()
    const server0 = await procCpuUs(server.pid!)
    const ms = await rawDrain({ url: server.url, jsm: env.jsm, stream: 'PROFILE', n, work, maxMessages: 4_000 })
    const cpu = process.cpuUsage(cpu0)
    console.log(`raw: ${Math.round((n / ms) * 1000)} msg/s; CPU: process ${((cpu.user + cpu.system) / n).toFixed(1)} µs/msg, nats-server ${(((await procCpuUs(server.pid!)) - server0) / n).toFixed(1)} µs/msg`)
  } else {
  const replica = await inProcessReplica(env, project.functionsDir, values.from === 'dist' ? await distRunReplica() : undefined)
  const idle = Number(values.idle)
  if (idle > 0) {
    // Idle functions beside the busy one (case 6 of the benchmark).
    await env.jsm.streams.add({ name: 'PROFILE_IDLE', subjects: ['PROFILE_IDLE.>'] })
    const names = Array.from({ length: idle }, (_, i) => `idle_${i}`)
    const files = await Promise.all(names.map((name, i) => project.addFunction(name, functionSource({ name, subject: `PROFILE_IDLE.f${i}` }))))
    await deploy(env, project.functionsDir, files)
    await waitConsumers(env.jsm, 'PROFILE_IDLE', idle)
  }
  const handler = work > 0 ? `pbkdf2Sync('jetfn', 'salt', ${work}, 32, 'sha256')` : ''
  const imports = work > 0 ? "import { pbkdf2Sync } from 'node:crypto'" : ''
  const file = await project.addFunction('profile', functionSource({ name: 'profile', subject: 'PROFILE.in', concurrency: Number(values.concurrency), handler, imports, ...(values.binary ? { decode: 'binary' as const } : {}) }))
  const threads0 = await threadCpu()
  const cpu0 = process.cpuUsage()
  const server0 = await procCpuUs(server.pid!)
  const profiler = values.prof === undefined ? undefined : new Session()
  if (profiler) {
    profiler.connect()
    await profiler.post('Profiler.enable')
    await profiler.post('Profiler.start')
    if (values.heap) await profiler.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
  }
  const ms = await deployAndDrain(env, project.functionsDir, file, 'profile', 'PROFILE')
  const cpu = process.cpuUsage(cpu0)
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop')
    await writeFile(join(values.prof!, 'main.cpuprofile'), JSON.stringify(profile))
    if (values.heap) await writeFile(join(values.prof!, 'main.heapprofile'), JSON.stringify((await profiler.post('HeapProfiler.stopSampling')).profile))
    profiler.disconnect()
  }
  const serverUs = (await procCpuUs(server.pid!)) - server0
  const perMsg = (us: number): string => `${(us / n).toFixed(1)} µs/msg`
  console.log(`replica from ${values.from}: ${n} messages in ${ms.toFixed(0)} ms: ${Math.round((n / ms) * 1000)} msg/s`)
  const threads1 = await threadCpu()
  const byName = new Map<string, { us: number; switches: number }>()
  for (const [tid, t] of threads1) {
    const before = threads0.get(tid)
    byName.set(t.name, { us: t.us - (before?.us ?? 0), switches: t.switches - (before?.switches ?? 0) })
  }
  const busy = [...byName].filter(([, t]) => t.us > 0).sort((a, b) => b[1].us - a[1].us)
  console.log(busy.map(([name, t]) => `${name} ${perMsg(t.us)} (${(t.switches / n).toFixed(2)} wake-ups/msg)`).join(', '))
  console.log(`CPU: replica process ${perMsg(cpu.user + cpu.system)} (all threads), nats-server ${perMsg(serverUs)}`)
  await replica.stop(2_000)
  }
} finally {
  await nc.close()
  await server.stop()
}

/** `runReplica` of the built package, dist/index.js (a computed specifier: dist/ may not exist when the repository is type-checked). */
async function distRunReplica(): Promise<typeof import('../runtime/index.ts').runReplica> {
  const entry = new URL('../dist/index.js', import.meta.url).href
  return ((await import(entry)) as typeof import('../runtime/index.ts')).runReplica
}

/** CPU time of each thread of this process, from /proc (names: main, libuv pool, V8 workers, worker threads). */
async function threadCpu(): Promise<Map<string, { name: string; us: number; switches: number }>> {
  const out = new Map<string, { name: string; us: number; switches: number }>()
  for (const tid of await readdir('/proc/self/task')) {
    try {
      const stat = await readFile(`/proc/self/task/${tid}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const status = await readFile(`/proc/self/task/${tid}/status`, 'utf8')
      const switches = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0)
      out.set(tid, { name: `${name}:${tid === String(process.pid) ? 'main' : tid}`, us: (Number(fields[11]) + Number(fields[12])) * 10_000, switches })
    } catch {
      // The thread ended.
    }
  }
  return out
}
