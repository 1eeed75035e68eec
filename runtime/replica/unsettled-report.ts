/**
 * What a replica tells the operator when it stops without NATS: the messages it held then, which
 * it could not settle (their acks, naks and dead letters never reached the server). The server
 * redelivers them after `ack_wait`; nothing is lost, but they may run again.
 */
import type { Logger } from 'pino'

/** What one function held when the stop began. */
export interface HeldAtStop {
  fn: string
  stream: string
  /** Stream sequences. */
  seqs: number[]
}

/** Logs one error line per function that held messages, naming their sequences. */
export function logUnsettled(held: readonly HeldAtStop[], log: Logger): void {
  for (const h of held) {
    if (h.seqs.length === 0) continue
    log.error(
      { fn: h.fn, stream: h.stream, seqs: h.seqs, count: h.seqs.length },
      'NATS unreachable at shutdown: these messages could not be settled here; the server redelivers them after ack_wait',
    )
  }
}
