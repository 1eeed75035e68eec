/**
 * What replaying a dead letter publishes: the original payload with the original headers (every
 * `Fn-*` header dropped) to the original subject, under a `Nats-Msg-Id` of its own.
 */
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import type { DeadLetterEntry } from './dead-letter-entry.ts'

/** A message ready to be published by a replay. */
export interface ReplayMessage {
  /** The DLQ sequence it comes from. */
  dlqSeq: number
  /** `Fn-Source-Subject`. */
  subject: string
  data: Uint8Array
  /** The original headers, without `Fn-*` and without `Nats-Msg-Id`. */
  headers: MsgHdrs
  /** The `Nats-Msg-Id` to publish with. */
  msgId: string
}

/**
 * Header a replay carries: the one function that runs it. Every other function consuming the
 * same subject acks it without running it (DESIGN: a replay runs on its own function only).
 */
export const REPLAY_FOR_HEADER = 'Fn-Replay-For'

// Headers a replay must not carry: the dead letter's own, and what the DLQ read added.
const DROPPED = /^(fn-.*|nats-msg-id|nats-msg-size)$/i

/**
 * Builds the replay of `entry`. Its `Nats-Msg-Id` is `replay:<DLQ stream>:<DLQ seq>:<stored ms>`:
 * new to the source stream (the original id would be dropped there as a duplicate), and the same
 * for every attempt to replay this one dead letter, so a replay run again after a publish whose
 * dead letter could not be deleted is stored once within the stream's duplicate window. The
 * stored time keeps it apart from a dead letter at the same sequence of a re-created DLQ stream.
 *
 * @throws FnError `FN_USAGE_INVALID` when the dead letter does not say where it came from.
 */
export function replayMessage(entry: DeadLetterEntry, dlqStream: string): ReplayMessage {
  if (!entry.sourceSubject) {
    throw new FnError(FnErrorCode.UsageInvalid, `dead letter ${entry.seq} has no Fn-Source-Subject header: there is nowhere to replay it to`, {
      hint: `inspect it with \`fn dlq show ${entry.function ?? '<function>'} ${entry.seq}\`, or remove it with \`fn dlq purge\``,
    })
  }
  const headers = natsHeaders()
  if (entry.headers) {
    for (const key of entry.headers.keys()) {
      if (DROPPED.test(key)) continue
      for (const value of entry.headers.values(key)) headers.append(key, value)
    }
  }
  // A dead letter written before ids named the function says whose it is only by its subject.
  const fn = entry.function ?? entry.subject.replace(/^fn\.dlq\./, '')
  headers.set(REPLAY_FOR_HEADER, fn)
  const msgId = `replay:${dlqStream}:${entry.seq}:${entry.storedAt.getTime()}`
  return { dlqSeq: entry.seq, subject: entry.sourceSubject, data: entry.data, headers, msgId }
}
