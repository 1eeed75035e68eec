/**
 * The dead-letter record: the original payload and headers, plus `Fn-*` headers that say what
 * failed and where it came from, and `Nats-Msg-Id = dlq:<function>:<stream>:<seq>` so that a dead
 * letter published twice (a replica died between the DLQ publish and the term) is stored once,
 * while each function consuming one subject keeps a dead letter of its own.
 */
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node'
import type { ErrorKind, WireError, WireHeaders } from '../pool/protocol.ts'

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
  original: WireHeaders
  /** Set when the message ran in a replay (`fn replay`): the dead letter's id carries it. */
  replayId?: string | undefined
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
  /** The payload is in Object Store `FN_DLQ_PAYLOADS` under this name (claim check). */
  PayloadObject: 'Fn-Payload-Object',
  /** Size of the payload kept in Object Store, bytes. */
  PayloadSize: 'Fn-Payload-Size',
  /** The original header block, base64, when it could not be decoded. */
  RawHeaders: 'Fn-Raw-Headers',
  /**
   * The original header block is in Object Store under this name: undecodable and too big for a
   * header, or too big to keep as headers beside the `Fn-*` ones.
   */
  RawHeadersObject: 'Fn-Raw-Headers-Object',
} as const

/** Object Store bucket of dead-letter payloads too big for one message. */
export const DLQ_PAYLOADS_BUCKET = 'FN_DLQ_PAYLOADS'

// Headers that would change how the DLQ stream stores the record (or refuse it) if copied over,
// and those that tell `fn dlq` where a dead letter keeps its payload: a publisher must not be able
// to point a dead letter at another one's object.
const DROPPED = /^(nats-(msg-id|expected-.*|rollup|ttl|marker-reason|schedule.*)|fn-(payload-object|payload-size|raw-headers|raw-headers-object))$/i
const MAX_ERROR_LENGTH = 2048

/** The subject a function's dead letters are published to. */
export function deadLetterSubject(fn: string): string {
  return `fn.dlq.${fn}`
}

/**
 * The dead letter's id (`Nats-Msg-Id`), also its Object Store name when it needs one:
 * `dlq:<fn>:<stream>:<seq>`, and `dlq:<fn>:<stream>:<seq>:r<replay id>` for a run of `fn replay`.
 */
export function deadLetterId(fn: string, stream: string, seq: number, replayId?: string): string {
  return replayId === undefined ? `dlq:${fn}:${stream}:${seq}` : `dlq:${fn}:${stream}:${seq}:r${replayId}`
}

/** Builds the headers of a dead letter. Linear in the number of original headers. */
export function deadLetterHeaders(f: DeadLetterFacts): MsgHdrs {
  const h = natsHeaders()
  const map = headerMap(h)
  if (f.original) {
    for (const [key, values] of f.original) {
      if (DROPPED.test(key)) {
        if (/^nats-msg-id$/i.test(key) && values[0]) map.set(DlqHeader.OriginalMsgId, [values[0]])
        continue
      }
      // Names were checked when read (readHeaders): set them as they came, without nats.js's
      // append, which searches every name already set (quadratic in a header bomb).
      const existing = map.get(key)
      map.set(key, existing ? [...existing, ...values] : [...values])
    }
  }
  map.set(DlqHeader.Function, [f.fn])
  map.set(DlqHeader.Version, [f.version])
  map.set(DlqHeader.Error, [oneLine(`${f.error.name}: ${f.error.message}`)])
  map.set(DlqHeader.ErrorKind, [f.errorKind])
  map.set(DlqHeader.Deliveries, [String(f.deliveries)])
  map.set(DlqHeader.SourceStream, [f.stream])
  map.set(DlqHeader.SourceSeq, [String(f.seq)])
  map.set(DlqHeader.SourceSubject, [f.subject])
  map.set(DlqHeader.FailedAt, [f.failedAt.toISOString()])
  map.set('Nats-Msg-Id', [deadLetterId(f.fn, f.stream, f.seq, f.replayId)])
  return h
}

/**
 * The name → values map inside a nats.js `MsgHdrs` (what it encodes from). Reached into so that
 * building headers stays linear; should a client version keep it elsewhere, a map that writes
 * through `append` stands in.
 */
function headerMap(h: MsgHdrs): Pick<Map<string, string[]>, 'get' | 'set'> {
  const inner = (h as unknown as { headers?: unknown }).headers
  if (inner instanceof Map) return inner as Map<string, string[]>
  return {
    get: (k) => (h.has(k) ? h.values(k) : undefined),
    set(k, values) {
      h.delete(k)
      for (const v of values) h.append(k, v)
      return this as Map<string, string[]>
    },
  }
}

/** Bytes `h` takes on the wire (the whole header block). */
export function headerBytes(h: MsgHdrs): number {
  const inner = (h as unknown as { headers?: unknown }).headers
  // `NATS/1.0\r\n` and the closing `\r\n`, then `Name: value\r\n` per value.
  let n = 12
  const entries: Iterable<[string, string[]]> = inner instanceof Map ? (inner as Map<string, string[]>) : h.keys().map((k) => [k, h.values(k)] as [string, string[]])
  for (const [k, values] of entries) for (const v of values) n += Buffer.byteLength(k) + Buffer.byteLength(v) + 4
  return n
}

function oneLine(s: string): string {
  const flat = s.replace(/[\r\n]+/g, ' ').trim()
  return flat.length > MAX_ERROR_LENGTH ? `${flat.slice(0, MAX_ERROR_LENGTH - 1)}…` : flat
}
