/**
 * Cases 3 and 5 of the benchmark, both measured where a handler starts: publish-to-handler latency
 * at a steady offered rate (raw receive callback vs a jetfn handler), and the time from a deploy
 * returning to the first message handled by the new version. The latency handler reports its
 * start time on a BroadcastChannel; the deploy handler through `ctx.publish`.
 */
import { jetstream } from '@nats-io/jetstream'
import type { Msg, Subscription } from '@nats-io/transport-node'
import { addRawConsumer, latencyPayload, publishAtRate, rawLatency } from './bench-raw.ts'
import { deploy, inProcessReplica, undeploy, type BenchEnv } from './bench-jetfn.ts'
import { benchProject, functionSource, median, percentiles } from './bench-support.ts'
import type { CaseResult } from './bench-report.ts'

/** Collects every message on `subject` until `count` have arrived (or `timeoutMs` passes). */
function collect(env: BenchEnv, subject: string, count: number, timeoutMs: number, onMsg: (m: Msg) => boolean): { done: Promise<void>; sub: Subscription } {
  let seen = 0
  let resolve!: () => void
  let reject!: (err: Error) => void
  const done = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)))
  const timer = setTimeout(() => reject(new Error(`only ${seen} of ${count} outputs on ${subject} within ${timeoutMs} ms`)), timeoutMs)
  const sub = env.nc.subscribe(subject, {
    callback: (_err, m) => {
      if (onMsg(m) && ++seen === count) {
        clearTimeout(timer)
        resolve()
      }
    },
  })
  return { done: done.finally(() => sub.unsubscribe()), sub }
}

const LATENCY_CHANNEL = 'jetfn-bench-latency'
// Module scope of the latency function: (send time, start time) pairs, posted once per timer
// turn. The channel is opened lazily and unref'd so that a thread that only imports the bundle
// (deploy inspects it) can still exit.
const LATENCY_MODULE = `let channel
let pending = []
function report(t, s) {
  if (pending.push(t, s) > 2) return
  setTimeout(() => {
    channel ??= new BroadcastChannel('${LATENCY_CHANNEL}')
    channel.unref()
    channel.postMessage(pending)
    pending = []
  }, 1)
}`
// The handler's first statement takes the time.
const LATENCY_HANDLER = 'report((event.data as { t: number }).t, Number(process.hrtime.bigint() / 1000n))'

/** Case 3: 2,000 msg/s offered for 10 s (quick: 2 s). Target: jetfn p99 ≤ raw p99 + 5 ms. */
export async function latencyCase(env: BenchEnv): Promise<CaseResult> {
  const rate = 2_000
  const seconds = env.quick ? 2 : 10
  const n = rate * seconds
  const concurrency = 64

  const rawStream = 'LATENCY_RAW'
  await env.jsm.streams.add({ name: rawStream, subjects: [`${rawStream}.>`] })
  let raw: ReturnType<typeof percentiles>
  try {
    await addRawConsumer(env.jsm, rawStream, `${rawStream}.in`, 1_000)
    raw = percentiles(await rawLatency({ url: env.url, nc: env.nc, jsm: env.jsm, stream: rawStream, subject: `${rawStream}.in`, n, rate }))
  } finally {
    await env.jsm.streams.delete(rawStream)
  }
  env.log(`latency raw:   p50 ${raw.p50Ms} ms, p99 ${raw.p99Ms} ms`)

  const stream = 'LATENCY_FN'
  const name = 'latency'
  const project = await benchProject(env.root, 'latency')
  await env.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
  const replica = await inProcessReplica(env, project.functionsDir)
  // The replica runs in this process, so its worker threads reach this thread on a
  // BroadcastChannel: the handler's start time comes back without touching the message's own
  // path (a ctx.publish would add a confirmed publish and an unbatched ack to every message).
  const channel = new BroadcastChannel(LATENCY_CHANNEL)
  let fn: ReturnType<typeof percentiles>
  try {
    const file = await project.addFunction(name, functionSource({ name, subject: `${stream}.in`, concurrency, handler: LATENCY_HANDLER, imports: LATENCY_MODULE }))
    const js = jetstream(env.nc)
    const lats: number[] = []
    let warm!: () => void
    const warmed = new Promise<void>((r) => (warm = r))
    let done!: () => void
    const finished = new Promise<void>((r) => (done = r))
    channel.onmessage = (ev) => {
      const pairs = (ev as { data: number[] }).data
      for (let i = 0; i < pairs.length; i += 2) {
        if (pairs[i] === 0) warm()
        else lats.push(pairs[i + 1]! - pairs[i]!)
      }
      if (lats.length >= n) done()
    }
    await deploy(env, project.functionsDir, [file])
    // Warm-up: the function is live (bundle loaded, consumer pulling) once one message reports.
    const pump = setInterval(() => void js.publish(`${stream}.in`, '{"t":0}'), 20)
    await warmed.finally(() => clearInterval(pump))
    await publishAtRate(js, `${stream}.in`, n, rate, latencyPayload)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([finished, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`latency: ${lats.length} of ${n} handler starts reported`)), 60_000)))])
    clearTimeout(timer)
    fn = percentiles(lats)
  } finally {
    channel.close()
    await replica.stop(2_000)
    await undeploy(env, [name])
    await env.jsm.streams.delete(stream)
  }
  env.log(`latency jetfn: p50 ${fn.p50Ms} ms, p99 ${fn.p99Ms} ms`)
  const diff = fn.p99Ms - raw.p99Ms
  return {
    case: 'latency',
    title: `3. latency at ${rate}/s for ${seconds} s`,
    baseline: { value: raw.p99Ms, unit: 'ms p99', text: `p50 ${raw.p50Ms} / p99 ${raw.p99Ms} ms` },
    jetfn: { value: fn.p99Ms, unit: 'ms p99', text: `p50 ${fn.p50Ms} / p99 ${fn.p99Ms} ms` },
    comparison: { kind: 'difference', value: +diff.toFixed(2), text: `p99 ${diff >= 0 ? '+' : ''}${diff.toFixed(2)} ms` },
    target: 'p99 <= raw + 5 ms',
    pass: diff <= 5,
    details: {
      rate,
      seconds,
      messages: n,
      raw,
      jetfn: fn,
      how: 'js.publish at the offered rate from the bench process, send time (CLOCK_MONOTONIC µs) in the payload; raw: receive time in the consume callback (max_messages 256); jetfn: the handler\'s start time in its worker thread, reported on a BroadcastChannel (in-process runReplica)',
      jetfnConcurrency: concurrency,
    },
  }
}

/** Case 5: from `deployFunctions` returning to the first message handled by the new version. Target: < 1 s. */
export async function deployCase(env: BenchEnv): Promise<CaseResult> {
  const runs = env.quick ? 2 : 5
  const stream = 'DEPLOY'
  const name = 'deployed'
  const project = await benchProject(env.root, 'deploy')
  await env.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
  const replica = await inProcessReplica(env, project.functionsDir)
  const js = jetstream(env.nc)
  const samples: number[] = []
  let warmUpMs = 0
  try {
    for (let i = 0; i <= runs; i++) {
      const tag = Date.now() * 1000 + i
      const handler = `ctx.publish('${stream}.out', { tag: ${tag}, at: Date.now() })`
      const file = await project.addFunction(name, functionSource({ name, subject: `${stream}.in`, handler }))
      let handledAt = 0
      const seen = collect(env, `${stream}.out`, 1, 30_000, (m) => {
        const o = m.json<{ tag: number; at: number }>()
        if (o.tag !== tag) return false
        handledAt = o.at
        return true
      })
      const results = await deploy(env, project.functionsDir, [file])
      const returned = Date.now()
      if (results[0]?.status === 'unchanged') throw new Error('deploy: the new version was not stored')
      // Offer messages until one is handled by the new version: the first that reaches it counts.
      const pump = setInterval(() => void js.publish(`${stream}.in`, '{}'), 5)
      await seen.done.finally(() => clearInterval(pump))
      // The first deploy creates the consumer: it is not a redeploy, and is reported apart.
      if (i === 0) warmUpMs = handledAt - returned
      else samples.push(handledAt - returned)
      env.log(`deploy ${i === 0 ? 'first' : i}: ${handledAt - returned} ms`)
    }
  } finally {
    await replica.stop(2_000)
    await undeploy(env, [name])
    await env.jsm.streams.delete(stream)
  }
  const med = median(samples)
  return {
    case: 'deploy',
    title: `5. deploy to first message`,
    baseline: { value: null, unit: 'ms', text: '-' },
    jetfn: { value: med, unit: 'ms', text: `median ${Math.round(med)} ms, max ${Math.max(...samples)} ms` },
    comparison: { kind: 'value', value: med, text: `${Math.round(med)} ms` },
    target: '< 1000 ms',
    pass: med < 1000,
    details: { redeploys: samples, firstDeployMs: warmUpMs, how: 'in-process runReplica following the registry; clock from deployFunctions returning to Date.now() at handler start of the first message on the new version (messages offered every 5 ms)' },
  }
}
