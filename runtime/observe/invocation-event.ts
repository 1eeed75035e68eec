/**
 * What a replica tells the world about each settled invocation, on core NATS subjects that
 * nothing stores: `fn.events.<fn>` (one small JSON event per settled invocation) and
 * `fn.logs.<fn>` (the handler's `ctx.log` lines, as pino JSON). `fn invoke`, `fn logs` and any
 * other tool subscribe to them; with no subscriber the server drops them at once.
 */
import type { ErrorKind } from '../pool/protocol.ts'

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
  settled(event: InvocationEvent): void
  /** `ctx.log` lines of one invocation. */
  logs(fn: string, lines: string[]): void
}

/** Several observers as one. */
export function observeAll(observers: InvocationObserver[]): InvocationObserver {
  return {
    settled: (e) => {
      for (const o of observers) o.settled(e)
    },
    logs: (fn, lines) => {
      for (const o of observers) o.logs(fn, lines)
    },
  }
}

/** Error name of a `retried` event whose dead letter the DLQ did not store (the message was kept). */
export const DEAD_LETTER_NOT_STORED = 'DeadLetterNotStored'
