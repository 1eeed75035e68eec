/**
 * Case 7 of the benchmark (issue 19, target 2): a no-op function at `concurrency: 512` deployed
 * onto a freshly started `fn start` replica, its first drain counted, against the raw per-tick loop
 * (`for await` over `consume()`, acks sent once per event-loop turn) on a backlog of the same size.
 * This is what a new user sees, where case 1 measures a warm replica at `concurrency: 4000`. Each
 * run also drains a fresh replica at the default concurrency (8), which must not be starved.
 * Runs are interleaved raw, cold, cold at the default, raw, …; a fresh replica per drain.
 */
import { addRawConsumer, rawDrainInChild } from './bench-raw.ts'
import { deployAndDrain, undeploy, type BenchEnv } from './bench-jetfn.ts'
import { benchProject, fill, freePort, functionSource, median, startFnProcess, stopProcess, waitReady } from './bench-support.ts'
import { fmtInt, msgRate, type CaseResult } from './bench-report.ts'

const CONCURRENCY = 512

export async function coldCase(env: BenchEnv): Promise<CaseResult> {
  const n = env.quick ? 10_000 : 100_000
  const perTick: number[] = []
  const cold: number[] = []
  const coldDefault: number[] = []
  for (let r = 1; r <= env.runs; r++) {
    const rawStream = `COLD_${r}_TICK`
    await env.jsm.streams.add({ name: rawStream, subjects: [`${rawStream}.>`] })
    try {
      await addRawConsumer(env.jsm, rawStream, `${rawStream}.in`, 20_000)
      await fill(env.nc, env.jsm, rawStream, `${rawStream}.in`, n)
      perTick.push(msgRate(n, (await rawDrainInChild({ url: env.url, stream: rawStream, n, work: 0, maxMessages: 1_000, mode: 'per-tick' })).ms))
    } finally {
      await env.jsm.streams.delete(rawStream)
    }
    env.log(`cold run ${r} raw, acks per tick: ${fmtInt(perTick.at(-1)!)} msg/s`)

    cold.push(await coldDrain(env, `${r}`, n, CONCURRENCY))
    env.log(`cold run ${r} jetfn, first drain of a fresh replica: ${fmtInt(cold.at(-1)!)} msg/s`)
    coldDefault.push(await coldDrain(env, `${r}_default`, n, undefined))
    env.log(`cold run ${r} jetfn at the default concurrency (8), first drain of a fresh replica: ${fmtInt(coldDefault.at(-1)!)} msg/s`)
  }
  const ratio = median(cold) / median(perTick)
  const defaultRatio = median(coldDefault) / median(perTick)
  return {
    case: 'cold',
    title: `7. cold fn start, drain ${fmtInt(n)}, concurrency ${CONCURRENCY}`,
    baseline: { value: median(perTick), unit: 'msg/s', text: `${fmtInt(median(perTick))} msg/s (acks per tick)` },
    jetfn: { value: median(cold), unit: 'msg/s', text: `${fmtInt(median(cold))} msg/s` },
    comparison: { kind: 'ratio', value: +ratio.toFixed(3), text: `${ratio.toFixed(2)}x (default concurrency 8: ${fmtInt(median(coldDefault))} msg/s, ${defaultRatio.toFixed(2)}x)` },
    target: '>= 0.8x',
    pass: ratio >= 0.8,
    details: {
      messages: n,
      rawPerTickRuns: perTick,
      coldRuns: cold,
      coldDefaultConcurrencyRuns: coldDefault,
      defaultConcurrencyRatio: +defaultRatio.toFixed(3),
      raw: 'for await over consume({ max_messages: 1000 }), acks sent once per event-loop turn, ackAck() on the last, in a child process',
      jetfn: `no-op function, concurrency ${CONCURRENCY}, deployed onto an fn start replica that has just become ready; its first drain, clock from deployFunctions returning to the consumer drained`,
    },
  }
}

/**
 * A no-op function at `concurrency` (undefined: the default) deployed onto a freshly started
 * `fn start` replica; the rate of its first drain of `n` messages.
 */
async function coldDrain(env: BenchEnv, tag: string, n: number, concurrency: number | undefined): Promise<number> {
  const httpPort = await freePort()
  const project = await benchProject(env.root, 'cold', { httpPort })
  const stream = `COLD_${tag}_FN`
  const name = `cold_${tag}`
  await env.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
  const replica = startFnProcess(env.root, project.configFile, env.url)
  try {
    await waitReady(httpPort, replica)
    await fill(env.nc, env.jsm, stream, `${stream}.in`, n)
    const file = await project.addFunction(name, functionSource({ name, subject: `${stream}.in`, ...(concurrency === undefined ? {} : { concurrency }) }))
    return msgRate(n, await deployAndDrain(env, project.functionsDir, file, name, stream))
  } finally {
    await stopProcess(replica)
    await undeploy(env, [name])
    await env.jsm.streams.delete(stream)
  }
}
