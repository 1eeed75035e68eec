/**
 * Settles one message by its handler's outcome: decide (DESIGN's settle table) → publish the
 * outputs → ack, nak with a delay, or dead-letter. The I/O goes through the ports it is given, so
 * the sequence can be checked without a server.
 */
import type { Logger } from 'pino'
import type { ErrorKind, Outcome, WireError, WireOutput } from '../pool/protocol.ts'
import type { RetryPolicy } from './backoff.ts'
import { decide } from './decide.ts'
import type { Delivery } from './delivery.ts'

/** What settling does on the server and tells the world, for one function. */
export interface SettlePorts {
  publishOutputs(d: Delivery, outputs: WireOutput[]): Promise<void>
  ack(d: Delivery): Promise<void>
  nak(d: Delivery, delayMs: number): void
  deadLetter(d: Delivery, errorKind: ErrorKind, error: WireError): Promise<void>
  /** An invocation settled: acked, or nak'd to run again (dead letters report themselves). */
  settled(d: Delivery, outcome: 'ok' | 'retried', errorKind?: ErrorKind, error?: WireError, delayMs?: number): void
  log: Logger
}

/** What became of the message. */
export type Settled = 'acked' | 'retried' | 'dead-lettered'

/**
 * Settles `d` whose handler produced `outcome` (anything but `unloadable`). Outputs that cannot
 * be stored (after the settler's own retries) turn a success into a retry: the message runs again
 * rather than being acked without its outputs.
 */
export async function settleOutcome(d: Delivery, outcome: Exclude<Outcome, { kind: 'unloadable' }>, retry: RetryPolicy, ports: SettlePorts): Promise<Settled> {
  const action = decide(outcome, d.deliveries, retry)
  switch (action.action) {
    case 'ack':
      try {
        await ports.publishOutputs(d, action.outputs)
      } catch (err) {
        const error = { name: 'OutputPublishError', message: `outputs not stored: ${(err as Error).message}` }
        return settleOutcome(d, { kind: 'retry', errorKind: 'error', error, durationMs: outcome.durationMs }, retry, ports)
      }
      await ports.ack(d)
      ports.settled(d, 'ok')
      return 'acked'
    case 'nak':
      ports.log.warn(
        { seq: d.seq, deliveries: d.deliveries, errorKind: action.errorKind, error: `${action.error.name}: ${action.error.message}`, delayMs: action.delayMs },
        'invocation failed; retrying',
      )
      ports.nak(d, action.delayMs)
      ports.settled(d, 'retried', action.errorKind, action.error, action.delayMs)
      return 'retried'
    case 'dead-letter':
      await ports.deadLetter(d, action.errorKind, action.error)
      return 'dead-lettered'
  }
}
