/**
 * Cases 4 and 6 of the benchmark, which need the replica in a process of its own (`fn start`):
 * peak RSS while draining a large versus a small backlog (the kernel's high-water mark, VmHWM, so
 * no sample is missed), and a replica with 100 functions: idle RSS and CPU per function, and the
 * throughput of one busy function next to 99 idle ones versus alone.
 */
import type { ChildProcess } from 'node:child_process'
import { setTimeout as delay } from 'node:timers/promises'
import { consumerName } from '../runtime/nats/ensure-consumer.ts'
import { deploy, deployAndDrain, undeploy, waitConsumers, type BenchEnv } from './bench-jetfn.ts'
import { benchProject, fill, freePort, waitReady, functionSource, median, procCpuUs, procMemory, startFnProcess, stopProcess, waitDrained, type BenchProject } from './bench-support.ts'
import { fmtInt, mib, msgRate, type CaseResult } from './bench-report.ts'

const CONCURRENCY = 512

/** Peak RSS of a fresh `fn start` replica that drains a backlog of `n` (deployed before it starts), and the drain's seconds. */
export async function peakRss(env: BenchEnv, project: BenchProject, n: number, label: string): Promise<{ hwm: number; seconds: number }> {
  const stream = `MEMORY_${label.toUpperCase()}`
  const name = `memory_${label}`
  await env.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
  let child: ChildProcess | undefined
  try {
    await fill(env.nc, env.jsm, stream, `${stream}.in`, n)
    const file = await project.addFunction(name, functionSource({ name, subject: `${stream}.in`, concurrency: CONCURRENCY }))
    await deploy(env, project.functionsDir, [file])
    child = startFnProcess(env.root, project.configFile, env.url)
    const started = performance.now()
    await waitDrained(env.jsm, stream, consumerName(name), { pollMs: 50 })
    const { hwm } = await procMemory(child.pid!)
    return { hwm, seconds: +((performance.now() - started) / 1000).toFixed(1) }
  } finally {
    if (child) await stopProcess(child)
    await undeploy(env, [name])
    await env.jsm.streams.delete(stream)
  }
}

/**
 * Case 4: peak RSS draining 1,000,000 vs 10,000 (quick: 20,000 vs 2,000), each in a fresh
 * replica, `env.runs` pairs interleaved; the row shows the median pair's figures and the median
 * ratio. Target: ≤ 1.2x. One pair alone was noisy (1.05x to 1.33x on one day).
 */
export async function memoryCase(env: BenchEnv): Promise<CaseResult> {
  const small = env.quick ? 2_000 : 10_000
  const large = env.quick ? 20_000 : 1_000_000
  const project = await benchProject(env.root, 'memory')
  const pairs: Array<{ s: { hwm: number; seconds: number }; l: { hwm: number; seconds: number }; ratio: number }> = []
  for (let r = 1; r <= env.runs; r++) {
    const s = await peakRss(env, project, small, `small_${r}`)
    env.log(`memory run ${r} ${fmtInt(small)}: peak RSS ${mib(s.hwm)} MiB, drained in ${s.seconds} s`)
    const l = await peakRss(env, project, large, `large_${r}`)
    env.log(`memory run ${r} ${fmtInt(large)}: peak RSS ${mib(l.hwm)} MiB, drained in ${l.seconds} s`)
    pairs.push({ s, l, ratio: l.hwm / s.hwm })
  }
  const ratio = median(pairs.map((p) => p.ratio))
  const mid = [...pairs].sort((a, b) => a.ratio - b.ratio)[Math.floor((pairs.length - 1) / 2)]!
  return {
    case: 'memory',
    title: `4. peak RSS ${fmtInt(large)} vs ${fmtInt(small)}`,
    baseline: { value: mib(mid.s.hwm), unit: 'MiB', text: `${mib(mid.s.hwm)} MiB (${fmtInt(small)})` },
    jetfn: { value: mib(mid.l.hwm), unit: 'MiB', text: `${mib(mid.l.hwm)} MiB (${fmtInt(large)})` },
    comparison: { kind: 'ratio', value: +ratio.toFixed(3), text: `${ratio.toFixed(2)}x` },
    target: '<= 1.2x',
    pass: ratio <= 1.2,
    details: {
      runs: pairs.map((p) => ({ small: { messages: small, peakRssBytes: p.s.hwm, drainSeconds: p.s.seconds }, large: { messages: large, peakRssBytes: p.l.hwm, drainSeconds: p.l.seconds }, ratio: +p.ratio.toFixed(3) })),
      how: `fn start child per drain, no-op function, concurrency ${CONCURRENCY}; VmHWM read from /proc once the consumer drained; median of ${pairs.length} pairs`,
    },
  }
}

/** RSS now and CPU (% of one core) of a process over `seconds` of idling. */
async function idleUsage(pid: number, seconds: number): Promise<{ rssBytes: number; cpuPct: number }> {
  const c0 = await procCpuUs(pid)
  const t0 = performance.now()
  await delay(seconds * 1000)
  const cpuUs = (await procCpuUs(pid)) - c0
  const wallUs = (performance.now() - t0) * 1000
  return { rssBytes: (await procMemory(pid)).rss, cpuPct: +((cpuUs / wallUs) * 100).toFixed(2) }
}

/**
 * Waits until a process is quiet: one window of `windowMs` in which it used at most `belowPct` % of
 * a core, or `maxMs` passed. Returns how long it waited, ms. A fixed pause after start-up was too
 * short on 16 cores: the replica with no functions was still busy (10 % of a core) in its idle
 * window, and 100 idle functions came out at a negative CPU each.
 */
async function waitQuiet(pid: number, maxMs: number, windowMs = 1_000, belowPct = 5): Promise<number> {
  const t0 = performance.now()
  for (;;) {
    const { cpuPct } = await idleUsage(pid, windowMs / 1000)
    if (cpuPct <= belowPct || performance.now() - t0 >= maxMs) return performance.now() - t0
  }
}

/** Case 6: 100 functions in one replica. Target: busy next to 99 idle ≥ 0.9 × alone. */
export async function manyCase(env: BenchEnv): Promise<CaseResult> {
  const total = 100
  const n = env.quick ? 10_000 : 200_000
  const idleSeconds = env.quick ? 2 : 10
  // After /readyz says ready: start-up work (JIT, GC, threads) dies down before an idle window.
  const settleMaxMs = env.quick ? 2_000 : 20_000
  const httpPort = await freePort()
  const project = await benchProject(env.root, 'many', { httpPort })
  const idleStream = 'MANY_IDLE'
  await env.jsm.streams.add({ name: idleStream, subjects: [`${idleStream}.>`] })
  const idleNames = Array.from({ length: total }, (_, i) => `idle_${String(i).padStart(3, '0')}`)
  const child = startFnProcess(env.root, project.configFile, env.url)
  const alone: number[] = []
  const next: number[] = []
  let idle0: { rssBytes: number; cpuPct: number }
  let idle100: { rssBytes: number; cpuPct: number }
  try {
    await waitReady(httpPort, child)
    let settled = await waitQuiet(child.pid!, settleMaxMs)
    idle0 = await idleUsage(child.pid!, idleSeconds)
    env.log(`many: no functions: RSS ${mib(idle0.rssBytes)} MiB, CPU ${idle0.cpuPct} % (measured after waiting ${(settled / 1000).toFixed(1)} s for it to go quiet)`)
    const files = await Promise.all(idleNames.map((name, i) => project.addFunction(name, functionSource({ name, subject: `${idleStream}.f${i}` }))))
    await deploy(env, project.functionsDir, files)
    await waitConsumers(env.jsm, idleStream, total)
    await waitReady(httpPort, child)
    settled = await waitQuiet(child.pid!, settleMaxMs)
    idle100 = await idleUsage(child.pid!, idleSeconds)
    env.log(`many: ${total} idle functions: RSS ${mib(idle100.rssBytes)} MiB, CPU ${idle100.cpuPct} % (measured after waiting ${(settled / 1000).toFixed(1)} s for it to go quiet)`)

    // Runs alternate next to 99 idle ones and alone (the idle ones removed, then deployed
    // again), after one warm-up drain that is not counted: run in two blocks, the first block
    // paid the child's warm-up and the machine's drift fell on one side only.
    await undeploy(env, idleNames.slice(total - 1))
    const idleFiles = files.slice(0, total - 1)
    await busyRuns(env, project, n, 'warm', [], 1)
    for (let r = 1; r <= env.runs; r++) {
      if (r > 1) {
        await deploy(env, project.functionsDir, idleFiles)
        await waitConsumers(env.jsm, idleStream, total - 1)
      }
      await busyRuns(env, project, n, `next${r}`, next, 1)
      await undeploy(env, idleNames)
      await busyRuns(env, project, n, `alone${r}`, alone, 1)
    }
  } finally {
    await stopProcess(child)
    await undeploy(env, idleNames)
    await env.jsm.streams.delete(idleStream)
  }
  const ratio = median(next) / median(alone)
  const perFnRss = (idle100.rssBytes - idle0.rssBytes) / total
  const perFnCpu = (idle100.cpuPct - idle0.cpuPct) / total
  return {
    case: 'many',
    title: `6. busy fn next to ${total - 1} idle`,
    baseline: { value: median(alone), unit: 'msg/s', text: `${fmtInt(median(alone))} msg/s alone` },
    jetfn: { value: median(next), unit: 'msg/s', text: `${fmtInt(median(next))} msg/s next to ${total - 1}` },
    comparison: { kind: 'ratio', value: +ratio.toFixed(3), text: `${ratio.toFixed(2)}x` },
    target: '>= 0.9x',
    pass: ratio >= 0.9,
    details: {
      functions: total,
      idleSeconds,
      idleNoFunctions: idle0,
      idleWithFunctions: idle100,
      perFunctionRssKiB: +(perFnRss / 1024).toFixed(1),
      perFunctionCpuPctOfCore: +perFnCpu.toFixed(4),
      messages: n,
      aloneRuns: alone,
      nextToIdleRuns: next,
      how: `fn start child; idle: VmRSS and utime+stime over ${idleSeconds} s with no functions vs ${total} idle no-op functions (default concurrency); busy: no-op, concurrency ${CONCURRENCY}, clock from deployFunctions returning to drained`,
    },
  }
}

async function busyRuns(env: BenchEnv, project: BenchProject, n: number, label: string, into: number[], runs = env.runs): Promise<void> {
  for (let r = 1; r <= runs; r++) {
    const stream = `MANY_${label.toUpperCase()}_${r}`
    const name = `busy_${label}_${r}`
    await env.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
    try {
      await fill(env.nc, env.jsm, stream, `${stream}.in`, n)
      const file = await project.addFunction(name, functionSource({ name, subject: `${stream}.in`, concurrency: CONCURRENCY }))
      into.push(msgRate(n, await deployAndDrain(env, project.functionsDir, file, name, stream)))
      env.log(`many run ${r} busy ${label}: ${fmtInt(into.at(-1)!)} msg/s`)
    } finally {
      await undeploy(env, [name])
      await env.jsm.streams.delete(stream)
    }
  }
}
