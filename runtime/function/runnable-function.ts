import type { RetryPolicy } from '../settle/backoff.ts'
import type { ResolvedDebounce, ResolvedKeying, ResolvedRateLimit, ResolvedStartFrom } from './function-options.ts'

/** A function as a replica runs it: resolved options plus where its code is. */
export interface RunnableFunction {
  name: string
  version: string
  subject: string
  stream: string
  bundlePath: string
  decode: 'json' | 'binary'
  concurrency: number
  timeoutMs: number
  timeoutGraceMs: number
  /** The consumer's ack wait, ms. */
  ackWaitMs: number
  /** Where the consumer starts when it is first created. */
  startFrom: ResolvedStartFrom
  retry: RetryPolicy
  /** Runs started per period across every replica; unset: no limit. */
  rateLimit?: ResolvedRateLimit | undefined
  /** Messages in flight across every replica together (the consumer's `max_ack_pending`); unset: the default. */
  maxInFlight?: number | undefined
  /** Grouping by key; unset: messages are independent. */
  keyed?: ResolvedKeying | undefined
  /** Runs once per key after a quiet period (`debounce`); unset: every message runs. */
  debounce?: ResolvedDebounce | undefined
}
