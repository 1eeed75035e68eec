/**
 * One thread of the raw thread-ceiling loop ({@link rawDrainThreads}): its own connection, the
 * raw callback loop on the shared durable consumer, `m.ack()` per message. Started by the parent
 * with `{ url, stream, maxMessages }` as workerData; says `ready` once connected, starts on `go`.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { jetstream } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'

const { url, stream, maxMessages, durable } = workerData as { url: string; stream: string; maxMessages: number; durable: string }
const nc = await connect({ servers: url, noAsyncTraces: true, name: 'bench raw thread' })
const consumer = await jetstream(nc).consumers.get(stream, durable)
const port = parentPort!
port.on('message', (m: string) => {
  if (m === 'go') {
    void consumer.consume({ max_messages: maxMessages, callback: (msg) => msg.ack() }).then(async () => {
      await nc.flush()
      port.postMessage('started')
    })
  } else if (m === 'stop') {
    void nc.close().then(() => port.close())
  }
})
port.postMessage('ready')
