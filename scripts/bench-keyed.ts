/**
 * What ordering per key costs: a no-op function keyed over 1,000 keys (`key: { wildcard: 1 }`)
 * against the same function without a key, drained by one `fn start` replica and by two, on one
 * fresh nats-server. Each figure is a drain of a backlog filled before the deploy (`startFrom:
 * 'all'`), from the deploy returning to the consumer drained; configurations are interleaved run
 * by run and medians are printed, with the keyed/unkeyed ratio for each replica count.
 *
 *   npx tsx scripts/bench-keyed.ts                       # 50,000 messages, 3 runs
 *   npx tsx scripts/bench-keyed.ts --messages 20000 --runs 1
 *
 * Run it on a quiet machine (no test suite or build beside it): it measures the machine too.
 */
import { rm, writeFile } from 'node:fs/promises'
import { availableParallelism, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { NatsServerProcess } from '../runtime/nats/nats-server-process.ts'
import { consumerName } from '../runtime/nats/ensure-consumer.ts'
import { deploy, openRegistry, undeploy, type BenchEnv } from './bench-jetfn.ts'
import { benchProject, freePort, median, PAYLOAD, startFnProcess, stopProcess, waitDrained, waitReady } from './bench-support.ts'

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '50000' },
    keys: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '512' },
  },
  strict: true,
})
const messages = Number(values.messages)
const keys = Number(values.keys)
const runs = Number(values.runs)
const concurrency = Number(values.concurrency)
const log = (line: string) => process.stderr.write(`${line}\n`)

interface Config {
  keyed: boolean
  replicas: 1 | 2
}
const CONFIGS: Config[] = [
  { keyed: false, replicas: 1 },
  { keyed: true, replicas: 1 },
  { keyed: false, replicas: 2 },
  { keyed: true, replicas: 2 },
]
const label = (c: Config) => `${c.keyed ? 'keyed' : 'unkeyed'} x${c.replicas}`

/** A backlog spread over `keys` subjects `<stream>.k<n>`, filled with core publishes and checked. */
async function fillKeyed(nc: NatsConnection, jsm: JetStreamManager, stream: string): Promise<void> {
  await jsm.streams.add({ name: stream, subjects: [`${stream}.*`] })
  for (let i = 0; i < messages; i++) {
    nc.publish(`${stream}.k${i % keys}`, PAYLOAD)
    if (i % 1000 === 999) await nc.flush()
  }
  await nc.flush()
  for (let tries = 0; ; tries++) {
    const stored = (await jsm.streams.info(stream)).state.messages
    if (stored === messages) return
    if (tries > 500) throw new Error(`${stream} stored ${stored} of ${messages}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function drainOnce(env: BenchEnv, config: Config, run: number): Promise<number> {
  const name = `bk_${config.keyed ? 'keyed' : 'plain'}_${config.replicas}_${run}`
  const stream = `BK_${name.toUpperCase()}`
  const project = await benchProject(env.root, name)
  const file = await project.addFunction(
    name,
    `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: '${name}', subject: '${stream}.*', concurrency: ${concurrency}, startFrom: 'all',${config.keyed ? ' key: { wildcard: 1 },' : ''}
  async handler() {},
})
`,
  )
  await fillKeyed(env.nc, env.jsm, stream)
  const children = []
  for (let i = 0; i < config.replicas; i++) {
    const port = await freePort()
    const configFile = `${project.dir}/fn.config.${i}.ts`
    await writeFile(configFile, `import { defineConfig } from 'jetfn'\nexport default defineConfig({ functionsDir: ${JSON.stringify(project.functionsDir)}, http: { port: ${port} } })\n`)
    const child = startFnProcess(env.root, configFile, env.url)
    children.push({ child, port })
  }
  try {
    for (const c of children) await waitReady(c.port, c.child)
    await deploy(env, project.functionsDir, [file])
    const start = performance.now()
    await waitDrained(env.jsm, stream, consumerName(name), { pollMs: 20 })
    return messages / ((performance.now() - start) / 1000)
  } finally {
    for (const c of children) await stopProcess(c.child)
    await undeploy(env, [name])
    await env.jsm.streams.delete(stream).catch(() => undefined)
    await rm(project.dir, { recursive: true, force: true })
  }
}

const root = fileURLToPath(new URL('..', import.meta.url))
const server = await NatsServerProcess.start()
const nc = await connect({ servers: server.url, noAsyncTraces: true, name: 'bench-keyed' })
try {
  const env: BenchEnv = { url: server.url, root, nc, jsm: await jetstreamManager(nc), registry: await openRegistry(nc), quick: false, runs, log }
  log(`nats-server ${nc.info?.version}; ${messages} messages over ${keys} keys; concurrency ${concurrency}; ${availableParallelism()} cores; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  const rates = new Map<string, number[]>(CONFIGS.map((c) => [label(c), []]))
  for (let run = 0; run < runs; run++) {
    // Rotated so that no configuration always runs first (or last) in a round.
    const order = CONFIGS.map((_, i) => CONFIGS[(i + run) % CONFIGS.length]!)
    for (const config of order) {
      const rate = await drainOnce(env, config, run)
      rates.get(label(config))!.push(rate)
      log(`run ${run + 1}: ${label(config).padEnd(12)} ${Math.round(rate).toLocaleString('en-US')} msg/s`)
    }
  }
  const med = (c: Config) => median(rates.get(label(c))!)
  console.log(`\n| replicas | unkeyed msg/s | keyed (${keys} keys) msg/s | keyed / unkeyed |`)
  console.log('|---|---|---|---|')
  for (const replicas of [1, 2] as const) {
    const plain = med({ keyed: false, replicas })
    const keyed = med({ keyed: true, replicas })
    console.log(`| ${replicas} | ${Math.round(plain).toLocaleString('en-US')} | ${Math.round(keyed).toLocaleString('en-US')} | ${(keyed / plain).toFixed(2)}x |`)
  }
  console.log(`\nmedians of ${runs} interleaved run${runs === 1 ? '' : 's'}, ${messages.toLocaleString('en-US')} messages each, no-op handler, concurrency ${concurrency}`)
} finally {
  await nc.close()
  await server.stop()
}
