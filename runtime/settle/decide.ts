/**
 * The settle policy, pure: what to do with a message given its outcome and how many deliveries it
 * has had. DESIGN.md's settle table, and nothing else.
 */
import type { ErrorKind, Outcome, WireError, WireOutput } from '../pool/protocol.ts'
import { backoffDelayMs, type RetryPolicy } from './backoff.ts'

export type SettleAction =
  | { action: 'ack'; outputs: WireOutput[] }
  | { action: 'nak'; delayMs: number; errorKind: ErrorKind; error: WireError }
  | { action: 'dead-letter'; errorKind: ErrorKind; error: WireError }

/** Decides how to settle a message whose handler produced `outcome` on delivery number `deliveries`. */
export function decide(
  outcome: Exclude<Outcome, { kind: 'unloadable' }>,
  deliveries: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): SettleAction {
  switch (outcome.kind) {
    case 'ok':
      return { action: 'ack', outputs: outcome.outputs }
    case 'dead':
      return { action: 'dead-letter', errorKind: outcome.errorKind, error: outcome.error }
    case 'retry':
      if (deliveries >= policy.maxDeliver) {
        return { action: 'dead-letter', errorKind: outcome.errorKind, error: outcome.error }
      }
      return {
        action: 'nak',
        delayMs: outcome.delayMs ?? backoffDelayMs(deliveries, policy, random),
        errorKind: outcome.errorKind,
        error: outcome.error,
      }
  }
}

/**
 * A delivery that arrives with its tries already used up (earlier ones crashed, or their replica
 * died before settling) is dead-lettered without running the handler. The consumer's server-side
 * `max_deliver` is `maxDeliver + 1` so that such a delivery still reaches a replica.
 */
export function isPastMaxDeliver(deliveries: number, policy: RetryPolicy): boolean {
  return deliveries > policy.maxDeliver
}
