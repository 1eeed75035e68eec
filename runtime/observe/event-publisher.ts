/**
 * Publishes invocation events and log lines on core NATS, but only for functions someone is
 * watching. Per message, an event is a second publish as large as the message itself: measured,
 * it halved drain throughput. So tools that read events (`fn invoke`, `fn logs`) first announce
 * themselves on `fn.watch.<fn>` (a request every replica answers); a replica then publishes that
 * function's events until the watch lapses. Unwatched, an event costs one map lookup.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { guardCallback } from '../nats/guard-callback.ts'
import { eventsSubject, logsSubject, type InvocationObserver } from './invocation-event.ts'

/** Subject a watcher announces itself on: `fn.watch.<fn>`. */
export const watchSubject = (fn: string): string => `fn.watch.${fn}`

/** What a watcher sends: how long the replica should keep publishing, ms. */
export interface WatchRequest {
  ttlMs: number
}

/** Longest a single announcement keeps events flowing, ms (a watcher renews well before). */
export const MAX_WATCH_TTL_MS = 120_000

export interface EventPublisher extends InvocationObserver {
  /** Stops answering watchers. */
  close(): void
}

export function natsEventPublisher(nc: NatsConnection, replicaId: string, log: Logger): EventPublisher {
  const watchedUntil = new Map<string, number>()
  const watched = (fn: string): boolean => {
    const until = watchedUntil.get(fn)
    return until !== undefined && until > Date.now()
  }
  const publish = (subject: string, data: string): void => {
    try {
      nc.publish(subject, data)
    } catch {
      // Closed or draining connection: events are best-effort by design; settling goes on.
    }
  }
  const sub: Subscription = nc.subscribe(watchSubject('*'), {
    callback: guardCallback(log, 'events watch', (m) => {
      const fn = m.subject.slice('fn.watch.'.length)
      let ttlMs = 30_000
      try {
        ttlMs = Math.min(MAX_WATCH_TTL_MS, Math.max(1_000, (m.json<WatchRequest>().ttlMs as number) || ttlMs))
      } catch {
        // An announcement without a readable body still counts, with the default lifetime.
      }
      watchedUntil.set(fn, Math.max(watchedUntil.get(fn) ?? 0, Date.now() + ttlMs))
      log.debug({ fn, ttlMs }, 'events watched')
      if (m.reply) m.respond(JSON.stringify({ replica: replicaId }))
    }),
  })
  return {
    settled: (e) => {
      if (watched(e.fn)) publish(eventsSubject(e.fn), JSON.stringify(e))
    },
    logs: (fn, lines) => {
      if (!watched(fn)) return
      const subject = logsSubject(fn)
      for (const line of lines) publish(subject, line)
    },
    close: () => sub.unsubscribe(),
  }
}
