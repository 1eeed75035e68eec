/**
 * What a replica tells the world about each settled invocation, on core NATS subjects that
 * nothing stores: `fn.events.<fn>` (one small JSON event per settled invocation) and
 * `fn.logs.<fn>` (the handler's `ctx.log` lines, as pino JSON). `fn invoke`, `fn logs` and any
 * other tool subscribe to them; with no subscriber the server drops them at once.
 */
import type { ErrorKind } from '../pool/protocol.ts'
import type { Delivery } from '../settle/delivery.ts'

/** How an invocation was settled. */
export type InvocationOutcome = 'ok' | 'retried' | 'dead-lettered'

/** One settled invocation. Field names are a contract for tools. */
export interface InvocationEvent {
  fn: string
  version: string
  /** `host:pid` of the replica that ran it. */
  replica: string
  stream: string
  seq: number
  deliveries: number
  subject: string
  outcome: InvocationOutcome
  /** Kind of failure, for `retried` and `dead-lettered`. */
  errorKind?: ErrorKind
  /** `Name: message` of the failure. */
  error?: string
  /** Delay before the next delivery, for `retried`, ms. */
  delayMs?: number
  /** Handler run time, ms (absent when the handler did not run, e.g. `max-deliver`). */
  durationMs?: number
  /** When it was settled, ms since the epoch. */
  at: number
}

export const eventsSubject = (fn: string): string => `fn.events.${fn}`
export const logsSubject = (fn: string): string => `fn.logs.${fn}`

/** Receives what a function consumer settles. Implementations must not throw or block. */
export interface InvocationObserver {
  /** `delivery` is the message settled (its headers carry the trace context); the same object from receipt to settle. */
  settled(event: InvocationEvent, delivery?: Delivery): void
  /** `ctx.log` lines of one invocation. */
  logs(fn: string, lines: string[]): void
}

/** Several observers as one. */
export function observeAll(observers: InvocationObserver[]): InvocationObserver {
  return {
    settled: (e, d) => {
      for (const o of observers) o.settled(e, d)
    },
    logs: (fn, lines) => {
      for (const o of observers) o.logs(fn, lines)
    },
  }
}

/** Error name of a `retried` event whose dead letter the DLQ did not store (the message was kept). */
export const DEAD_LETTER_NOT_STORED = 'DeadLetterNotStored'

/** What an {@link InvocationEvent} is built from. */
export interface InvocationFacts {
  fn: string
  version: string
  replica: string
  delivery: { stream: string; seq: number; deliveries: number; subject: string }
  outcome: InvocationOutcome
  errorKind?: ErrorKind | undefined
  error?: { name: string; message: string } | undefined
  delayMs?: number | undefined
  durationMs?: number | undefined
}

/** The event of one settled invocation; optional fields only when they have a value. */
export function invocationEvent(f: InvocationFacts): InvocationEvent {
  const d = f.delivery
  const event: InvocationEvent = { fn: f.fn, version: f.version, replica: f.replica, stream: d.stream, seq: d.seq, deliveries: d.deliveries, subject: d.subject, outcome: f.outcome, at: Date.now() }
  if (f.errorKind) event.errorKind = f.errorKind
  if (f.error) event.error = `${f.error.name}: ${f.error.message}`
  if (f.delayMs !== undefined) event.delayMs = f.delayMs
  if (f.durationMs !== undefined) event.durationMs = f.durationMs
  return event
}
