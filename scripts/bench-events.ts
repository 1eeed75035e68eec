/**
 * What invocation events cost the hot path: the time to build and publish one event on core
 * NATS with nobody listening, against the time one message takes in the raw consume+ack loop
 * measured in the same run.
 *
 *   npx tsx scripts/bench-events.ts [--events 500000]
 */
import { parseArgs } from 'node:util'
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { NatsServerProcess } from '../runtime/nats/nats-server-process.ts'
import { pino } from 'pino'
import { natsEventPublisher } from '../runtime/observe/event-publisher.ts'
import { watchEvents } from '../runtime/observe/watch-events.ts'
import type { InvocationEvent } from '../runtime/observe/invocation-event.ts'
import { fill } from './bench-support.ts'

const { values } = parseArgs({ options: { events: { type: 'string', default: '500000' } } })
const N = Number(values.events)
const server = await NatsServerProcess.start()
const nc = await connect({ servers: server.url, noAsyncTraces: true })
try {
  // Baseline: µs per message of the raw main-thread consume+ack loop.
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'EV', subjects: ['ev.>'] })
  await jsm.consumers.add('EV', { durable_name: 'raw', ack_policy: AckPolicy.Explicit, max_ack_pending: 10_000 })
  const M = 200_000
  await fill(nc, jsm, 'EV', 'ev.in', M)
  const consumer = await jetstream(nc).consumers.get('EV', 'raw')
  let n = 0
  let done!: () => void
  const finished = new Promise<void>((r) => (done = r))
  const t0 = performance.now()
  const msgs = await consumer.consume({ max_messages: 4000, callback: (m) => { m.ack(); if (++n === M) done() } })
  await finished
  const rawUs = ((performance.now() - t0) * 1000) / M
  await msgs.close()

  const events = natsEventPublisher(nc, 'bench:1', pino({ level: 'silent' }))
  const measure = async (): Promise<number> => {
    const t1 = performance.now()
    for (let i = 0; i < N; i++) {
      event.seq = i
      event.at = Date.now()
      events.settled(event)
      if (i % 1000 === 999) await nc.flush()
    }
    await nc.flush()
    return ((performance.now() - t1) * 1000) / N
  }
  const event: InvocationEvent = { fn: 'reserve-inventory', version: 'a'.repeat(64), replica: 'host:12345', stream: 'ORDERS', seq: 0, deliveries: 1, subject: 'orders.created', outcome: 'ok', durationMs: 1, at: 0 }
  const unwatchedUs = await measure()
  const watch = await watchEvents(nc, event.fn)
  const watchedUs = await measure()
  watch.stop()
  events.close()
  const pct = (us: number): string => `${((100 * us) / rawUs).toFixed(1)}%`
  console.log(`raw consume+ack: ${rawUs.toFixed(2)} µs/message`)
  console.log(`invocation event, nobody watching: ${unwatchedUs.toFixed(3)} µs (${pct(unwatchedUs)} of a raw message)`)
  console.log(`invocation event, watched (fn logs/invoke running): ${watchedUs.toFixed(2)} µs (${pct(watchedUs)} of a raw message)`)
} finally {
  await nc.close()
  await server.stop()
}
