/**
 * Test connections to the servers that `nats-server.ts` starts.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node'

/**
 * Connects a nats.js v3 client to `url` (or any of `urls`). The caller closes it.
 * `noAsyncTraces` is on because an Error stack per request halves request throughput (NATS-NOTES).
 */
export async function connectTo(url: string | string[]): Promise<NatsConnection> {
  return connect({ servers: url, noAsyncTraces: true, name: 'jetfn-test' })
}
