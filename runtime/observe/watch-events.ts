import type { NatsConnection } from '@nats-io/transport-node'
import { watchSubject, type WatchRequest } from './event-publisher.ts'

/**
 * Asks every replica to publish a function's events and log lines, and keeps asking while the
 * returned handle is open. Resolves once the replicas that answered within `waitMs` have the
 * request (so a message published right after is reported), with how many answered.
 */
export async function watchEvents(nc: NatsConnection, fn: string, opts: { ttlMs?: number; waitMs?: number } = {}): Promise<{ replicas: number; stop(): void }> {
  const ttlMs = opts.ttlMs ?? 30_000
  const body = JSON.stringify({ ttlMs } satisfies WatchRequest)
  let replicas = 0
  const answers = await nc.requestMany(watchSubject(fn), body, { maxWait: opts.waitMs ?? 300 })
  for await (const _ of answers) replicas++
  const renew = setInterval(() => nc.publish(watchSubject(fn), body), Math.floor(ttlMs / 3))
  renew.unref()
  return { replicas, stop: () => clearInterval(renew) }
}
