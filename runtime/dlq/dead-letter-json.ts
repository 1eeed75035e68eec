/**
 * The JSON shapes `fn dlq ls --json` and `fn dlq show --json` print. Field names are part of the
 * contract: scripts read them.
 */
import { Buffer } from 'node:buffer'
import { headerRecord, type DeadLetterEntry } from './dead-letter-entry.ts'
import { previewPayload } from './payload-preview.ts'

/** One row of `fn dlq ls --json`. Missing headers are `null`. */
export interface DeadLetterSummaryJson {
  seq: number
  failedAt: string
  errorKind: string | null
  error: string | null
  deliveries: number | null
  function: string | null
  version: string | null
  sourceStream: string | null
  sourceSeq: number | null
  sourceSubject: string | null
  storedAt: string
  /** Payload size, bytes. */
  size: number
}

/** `fn dlq show --json`: the summary, every header, and the payload. */
export interface DeadLetterDetailJson extends DeadLetterSummaryJson {
  subject: string
  headers: Record<string, string[]>
  /** The payload, exactly. */
  payloadBase64: string
  /** The parsed payload, when it is JSON. */
  payload?: unknown
  /** The payload as text, when it is readable UTF-8 but not JSON. */
  payloadText?: string
  /** Where the payload was kept, when too big for the dead letter itself (Object Store `FN_DLQ_PAYLOADS`). */
  payloadObject?: string
  /** The original header block, base64, when it could not be decoded (kind `decode`). */
  rawHeadersBase64?: string
}

export function deadLetterSummary(e: DeadLetterEntry): DeadLetterSummaryJson {
  return {
    seq: e.seq,
    failedAt: e.failedAt.toISOString(),
    errorKind: e.errorKind ?? null,
    error: e.error ?? null,
    deliveries: e.deliveries ?? null,
    function: e.function ?? null,
    version: e.version ?? null,
    sourceStream: e.sourceStream ?? null,
    sourceSeq: e.sourceSeq ?? null,
    sourceSubject: e.sourceSubject ?? null,
    storedAt: e.storedAt.toISOString(),
    size: e.size,
  }
}

export function deadLetterDetail(e: DeadLetterEntry): DeadLetterDetailJson {
  const preview = previewPayload(e.data)
  return {
    ...deadLetterSummary(e),
    subject: e.subject,
    headers: headerRecord(e.headers),
    payloadBase64: Buffer.from(e.data).toString('base64'),
    ...(preview.kind === 'json' ? { payload: preview.json } : {}),
    ...(preview.kind === 'text' ? { payloadText: preview.text } : {}),
    ...(e.payloadObject !== undefined ? { payloadObject: e.payloadObject } : {}),
    ...(e.rawHeaders !== undefined ? { rawHeadersBase64: Buffer.from(e.rawHeaders).toString('base64') } : {}),
  }
}
