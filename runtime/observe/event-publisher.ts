import type { NatsConnection } from '@nats-io/transport-node'
import { eventsSubject, logsSubject, type InvocationObserver } from './invocation-event.ts'

/**
 * Publishes invocation events and log lines on core NATS. A core publish is a write into the
 * client's buffer, flushed with everything else of that event-loop turn; nothing waits for it
 * and nothing is kept when no one listens.
 */
export function natsEventPublisher(nc: NatsConnection): InvocationObserver {
  const publish = (subject: string, data: string): void => {
    try {
      nc.publish(subject, data)
    } catch {
      // Closed or draining connection: events are best-effort by design, settling goes on.
    }
  }
  return {
    settled: (e) => publish(eventsSubject(e.fn), JSON.stringify(e)),
    logs: (fn, lines) => {
      const subject = logsSubject(fn)
      for (const line of lines) publish(subject, line)
    },
  }
}
