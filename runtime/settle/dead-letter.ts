/**
 * The dead-letter record: the original payload and headers, plus `Fn-*` headers that say what
 * failed, where it came from, and `Nats-Msg-Id = dlq:<stream>:<seq>` so that a dead letter
 * published twice (a replica died between the DLQ publish and the term) is stored once.
 */
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node'
import type { ErrorKind, WireError } from '../pool/protocol.ts'

/** The facts a dead letter records. */
export interface DeadLetterFacts {
  fn: string
  version: string
  errorKind: ErrorKind
  error: WireError
  deliveries: number
  stream: string
  seq: number
  subject: string
  failedAt: Date
  original: MsgHdrs | undefined
}

/** Header names a dead letter carries. Tools (`fn dlq`) read them by these names. */
export const DlqHeader = {
  Function: 'Fn-Function',
  Version: 'Fn-Version',
  Error: 'Fn-Error',
  ErrorKind: 'Fn-Error-Kind',
  Deliveries: 'Fn-Deliveries',
  SourceStream: 'Fn-Source-Stream',
  SourceSeq: 'Fn-Source-Seq',
  SourceSubject: 'Fn-Source-Subject',
  FailedAt: 'Fn-Failed-At',
  OriginalMsgId: 'Fn-Original-Msg-Id',
} as const

// Headers that would change how the DLQ stream stores the record (or refuse it) if copied over.
const DROPPED = /^nats-(msg-id|expected-.*|rollup|ttl|marker-reason|schedule.*)$/i
const MAX_ERROR_LENGTH = 2048

/** The subject a function's dead letters are published to. */
export function deadLetterSubject(fn: string): string {
  return `fn.dlq.${fn}`
}

/** Builds the headers of a dead letter. */
export function deadLetterHeaders(f: DeadLetterFacts): MsgHdrs {
  const h = natsHeaders()
  if (f.original) {
    for (const key of f.original.keys()) {
      if (DROPPED.test(key)) continue
      for (const value of f.original.values(key)) h.append(key, value)
    }
    const originalId = f.original.get('Nats-Msg-Id')
    if (originalId) h.set(DlqHeader.OriginalMsgId, originalId)
  }
  h.set(DlqHeader.Function, f.fn)
  h.set(DlqHeader.Version, f.version)
  h.set(DlqHeader.Error, oneLine(`${f.error.name}: ${f.error.message}`))
  h.set(DlqHeader.ErrorKind, f.errorKind)
  h.set(DlqHeader.Deliveries, String(f.deliveries))
  h.set(DlqHeader.SourceStream, f.stream)
  h.set(DlqHeader.SourceSeq, String(f.seq))
  h.set(DlqHeader.SourceSubject, f.subject)
  h.set(DlqHeader.FailedAt, f.failedAt.toISOString())
  h.set('Nats-Msg-Id', `dlq:${f.stream}:${f.seq}`)
  return h
}

function oneLine(s: string): string {
  const flat = s.replace(/[\r\n]+/g, ' ').trim()
  return flat.length > MAX_ERROR_LENGTH ? `${flat.slice(0, MAX_ERROR_LENGTH - 1)}…` : flat
}
