/**
 * Drains a backlog through a no-op jetfn function and through the raw nats.js consume+ack loop,
 * on one fresh nats-server in one run, and prints msg/s and the ratio. A first measurement for
 * the core; the full benchmark of the speed claim is `scripts/bench.ts` (to come).
 *
 *   npx tsx scripts/bench-drain.ts [--messages 100000] [--concurrency 256] [--runs 3]
 */
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { resolveConfig } from '../runtime/config/config-schema.ts'
import { buildFunctionFile, toRunnable } from '../runtime/deploy/load-function.ts'
import { NatsServerProcess } from '../runtime/nats/nats-server-process.ts'
import { Replica } from '../runtime/replica/replica.ts'

const { values } = parseArgs({ options: { messages: { type: 'string', default: '100000' }, concurrency: { type: 'string', default: '256' }, runs: { type: 'string', default: '3' } } })
const N = Number(values.messages)
const concurrency = Number(values.concurrency)
const runs = Number(values.runs)
const payload = JSON.stringify({ orderId: 'o-123456', customer: 'ada', items: [{ sku: 'sku-apple', qty: 2 }] })

async function fill(nc: NatsConnection, subject: string): Promise<void> {
  for (let i = 0; i < N; i++) {
    nc.publish(subject, payload)
    if (i % 1000 === 999) await nc.flush()
  }
  await nc.flush()
}

async function waitDrained(nc: NatsConnection, stream: string, consumer: string): Promise<void> {
  const jsm = await jetstreamManager(nc)
  for (;;) {
    const info = await jsm.consumers.info(stream, consumer)
    if (info.num_pending === 0 && info.num_ack_pending === 0) return
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function raw(nc: NatsConnection, stream: string, subject: string): Promise<number> {
  const jsm = await jetstreamManager(nc)
  await jsm.consumers.add(stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, filter_subject: subject, max_ack_pending: 10_000 })
  await fill(nc, subject)
  const c = await jetstream(nc).consumers.get(stream, 'raw')
  const start = performance.now()
  let n = 0
  let resolve!: () => void
  const done = new Promise<void>((r) => (resolve = r))
  const msgs = await c.consume({ max_messages: 4000, callback: (m) => { m.ack(); if (++n === N) resolve() } })
  await done
  await waitDrained(nc, stream, 'raw')
  const elapsed = performance.now() - start
  await msgs.close()
  return N / (elapsed / 1000)
}

async function jetfn(url: string, nc: NatsConnection, stream: string, subject: string): Promise<number> {
  const config = resolveConfig({ nats: { servers: url }, streams: [{ name: stream, subjects: [`${stream}.>`] }] }, { file: 'bench', env: {} })
  const replica = new Replica({ config, log: pino({ level: 'warn' }) })
  await replica.start()
  const built = await buildFunctionFile(fileURLToPath(new URL('../test/fixtures/functions/ok.ts', import.meta.url)), { config, home: fileURLToPath(new URL('../.fn', import.meta.url)) })
  const fn = toRunnable({ ...built, options: { ...built.options, name: `${stream}_ok`, subject, concurrency } }, stream)
  await fill(nc, subject)
  const start = performance.now()
  await replica.deploy(fn)
  await waitDrained(nc, stream, `fn_${fn.name}`)
  const elapsed = performance.now() - start
  await replica.stop(1_000)
  return N / (elapsed / 1000)
}

const server = await NatsServerProcess.start()
const nc = await connect({ servers: server.url, noAsyncTraces: true })
const jsm = await jetstreamManager(nc)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const rawRates: number[] = []
const fnRates: number[] = []
try {
  for (let r = 0; r < runs; r++) {
    for (const kind of ['raw', 'jetfn'] as const) {
      const stream = `B${r}${kind}`
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
      const rate = kind === 'raw' ? await raw(nc, stream, `${stream}.in`) : await jetfn(server.url, nc, stream, `${stream}.in`)
      ;(kind === 'raw' ? rawRates : fnRates).push(rate)
      await jsm.streams.delete(stream)
      console.log(`run ${r + 1} ${kind.padEnd(5)} ${Math.round(rate).toLocaleString('en')} msg/s`)
    }
  }
  console.log(`median: raw ${Math.round(median(rawRates)).toLocaleString('en')} msg/s, jetfn ${Math.round(median(fnRates)).toLocaleString('en')} msg/s, ratio ${(median(fnRates) / median(rawRates)).toFixed(2)} (${N.toLocaleString('en')} messages, concurrency ${concurrency}, 2 threads)`)
} finally {
  await nc.close()
  await server.stop()
}
