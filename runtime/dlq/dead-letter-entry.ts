/**
 * One dead letter as `fn dlq` reads it back: where it is stored, what failed (from the `Fn-*`
 * headers that the settler wrote), and the original payload and headers.
 */
import { Buffer } from 'node:buffer'
import type { MsgHdrs } from '@nats-io/transport-node'
import { DlqHeader } from '../settle/dead-letter.ts'

/** A message as stored in the DLQ stream, however it was read (direct get or a consumer). */
export interface StoredDeadLetter {
  seq: number
  subject: string
  /** When the DLQ stream stored it. */
  time: Date
  headers: MsgHdrs | undefined
  /** Empty when read headers-only; `size` is then taken from `Nats-Msg-Size`. */
  data: Uint8Array
}

/** A dead letter with its `Fn-*` headers read. A field is undefined when its header is missing. */
export interface DeadLetterEntry {
  /** Sequence in the DLQ stream: what `fn dlq show/replay/purge` take. */
  seq: number
  /** Its subject in the DLQ stream, `fn.dlq.<function>`. */
  subject: string
  storedAt: Date
  function: string | undefined
  version: string | undefined
  /** `Fn-Error-Kind`: error, timeout, crash, schema, decode, non-retryable or max-deliver. */
  errorKind: string | undefined
  /** `Fn-Error`: `<name>: <message>` of the last failure, on one line. */
  error: string | undefined
  /** `Fn-Deliveries`: how many times the handler was given the message. */
  deliveries: number | undefined
  sourceStream: string | undefined
  sourceSeq: number | undefined
  /** Where a replay publishes the message. */
  sourceSubject: string | undefined
  /** `Fn-Failed-At`, or the stored time when the header is missing or unreadable. */
  failedAt: Date
  /** Payload size in bytes. */
  size: number
  headers: MsgHdrs | undefined
  /** The payload; empty when read headers-only or when it is kept in Object Store (`payloadObject`). */
  data: Uint8Array
  /** `Fn-Payload-Object`: the payload is in Object Store `FN_DLQ_PAYLOADS` under this name (claim check). */
  payloadObject: string | undefined
  /** The original header block, when it could not be decoded (`Fn-Raw-Headers`, base64). */
  rawHeaders: Uint8Array | undefined
  /** `Fn-Raw-Headers-Object`: that block is in Object Store under this name. */
  rawHeadersObject: string | undefined
}

/** Reads the `Fn-*` headers of a stored dead letter. Never throws: a foreign message reads as fields left undefined. */
export function toDeadLetterEntry(m: StoredDeadLetter): DeadLetterEntry {
  const h = m.headers
  const get = (name: string): string | undefined => {
    const v = h?.get(name)
    return v === undefined || v === '' ? undefined : v
  }
  const failedAt = parseDate(get(DlqHeader.FailedAt)) ?? m.time
  const payloadObject = get(DlqHeader.PayloadObject)
  const sizeHeader = payloadObject !== undefined ? parseCount(get(DlqHeader.PayloadSize)) : parseCount(get('Nats-Msg-Size'))
  const raw = get(DlqHeader.RawHeaders)
  return {
    seq: m.seq,
    subject: m.subject,
    storedAt: m.time,
    function: get(DlqHeader.Function),
    version: get(DlqHeader.Version),
    errorKind: get(DlqHeader.ErrorKind),
    error: get(DlqHeader.Error),
    deliveries: parseCount(get(DlqHeader.Deliveries)),
    sourceStream: get(DlqHeader.SourceStream),
    sourceSeq: parseCount(get(DlqHeader.SourceSeq)),
    sourceSubject: get(DlqHeader.SourceSubject),
    failedAt,
    size: m.data.length > 0 || sizeHeader === undefined ? m.data.length : sizeHeader,
    headers: h,
    data: m.data,
    payloadObject,
    rawHeaders: raw === undefined ? undefined : new Uint8Array(Buffer.from(raw, 'base64')),
    rawHeadersObject: get(DlqHeader.RawHeadersObject),
  }
}

/** Every header, in stored order, each with all its values. */
export function headerRecord(h: MsgHdrs | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  if (!h) return out
  for (const key of h.keys()) out[key] = h.values(key)
  return out
}

function parseCount(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) ? n : undefined
}

function parseDate(s: string | undefined): Date | undefined {
  if (s === undefined) return undefined
  const d = new Date(s)
  return Number.isNaN(d.getTime()) ? undefined : d
}
