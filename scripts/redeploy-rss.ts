/**
 * Memory after many redeploys: one function (the example `validate-order`, which bundles zod) is
 * redeployed N times into an in-process replica under light load (a few messages per version),
 * each time as a new bundle file, as a changed function is. Prints the process RSS (main thread
 * and pool threads) after the first deploy and after the last, and their ratio; the pool replaces
 * its threads once enough retired versions are loaded, so the ratio stays flat.
 *
 *   npx tsx --expose-gc scripts/redeploy-rss.ts [--deploys 100] [--trace]
 *
 * `--trace` prints the RSS (MiB) after every deploy, one line each.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { pino } from 'pino'
import { resolveConfig } from '../runtime/config/config-schema.ts'
import { buildFunctionFile, toRunnable } from '../runtime/deploy/load-function.ts'
import { NatsServerProcess } from '../runtime/nats/nats-server-process.ts'
import { Replica } from '../runtime/replica/replica.ts'
import { procMemory } from './bench-support.ts'

const { values } = parseArgs({ options: { deploys: { type: 'string', default: '100' }, trace: { type: 'boolean', default: false } } })
const deploys = Number(values.deploys)
const root = fileURLToPath(new URL('..', import.meta.url))
const server = await NatsServerProcess.start()
const nc = await connect({ servers: server.url, noAsyncTraces: true })
const dir = await mkdtemp(join(tmpdir(), 'jetfn-redeploy-'))
const config = resolveConfig({ nats: { servers: server.url }, pool: { threads: 2 }, streams: [{ name: 'ORDERS', subjects: ['orders.>'] }] }, { file: 'redeploy.config.ts', env: {} })
const replica = new Replica({ config, log: pino({ level: 'warn' }) })
try {
  await replica.start()
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  const built = await buildFunctionFile(join(root, 'functions/validate-order.ts'), { config, home: join(dir, 'home') })
  const base = toRunnable(built, 'ORDERS')
  const order = JSON.stringify({ orderId: 'o-1', customer: 'ada', items: [{ sku: 'sku-apple', qty: 2, price: 3 }] })
  const rss: number[] = []
  for (let v = 1; v <= deploys; v++) {
    const bundlePath = join(dir, `v${v}.mjs`)
    await copyFile(base.bundlePath, bundlePath)
    const fn = { ...base, version: v.toString(16).padStart(64, '0'), bundlePath }
    await replica.preload(fn)
    await replica.deploy(fn)
    for (let i = 0; i < 5; i++) await js.publish('orders.created', order)
    for (;;) {
      const info = await jsm.consumers.info('ORDERS', `fn_${fn.name}`)
      if (info.num_pending === 0 && info.num_ack_pending === 0) break
      await new Promise((r) => setTimeout(r, 10))
    }
    ;(globalThis as { gc?: () => void }).gc?.()
    rss.push((await procMemory(process.pid)).rss)
  }
  ;(globalThis as { gc?: () => void }).gc?.()
  // Retired threads exit once their work is done; give them their turn before reading.
  await new Promise((r) => setTimeout(r, 1_000))
  const first = rss[0]!
  const last = (await procMemory(process.pid)).rss
  const peak = Math.max(...rss, last)
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`
  if (values.trace) console.log(rss.map((b, i) => `${i + 1}\t${(b / 1024 / 1024).toFixed(1)}`).join('\n'))
  console.log(
    `RSS after deploy 1: ${mib(first)}; after deploy ${deploys}: ${mib(last)}; ratio ${(last / first).toFixed(2)}x (target <= 1.2x); ` +
      `peak over all deploys ${mib(peak)} (${(peak / first).toFixed(2)}x)`,
  )
} finally {
  await replica.stop(1_000)
  await nc.close()
  await server.stop()
  await rm(dir, { recursive: true, force: true })
}
