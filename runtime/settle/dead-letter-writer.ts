/**
 * Stores one dead letter and waits for JetStream to confirm it. A dead letter that would not fit
 * in one message (its payload plus headers over the server's `max_payload`) keeps its payload in
 * Object Store (claim check, DESIGN); an undecodable header block goes along as base64, or as an
 * object when too big for a header, and so do original headers too big to sit beside the `Fn-*`
 * ones (JetStream stores at most 64 KiB of headers). Throws when the dead letter could not be stored: the caller
 * then keeps the original unterminated.
 */
import { Buffer } from 'node:buffer'
import type { JetStreamClient } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { DeadLetterPayloads } from '../dlq/dead-letter-payloads.ts'
import { deadLetterHeaders, deadLetterId, deadLetterSubject, DlqHeader, headerBytes, type DeadLetterFacts } from './dead-letter.ts'

/** An undecodable header block up to this size travels base64 in `Fn-Raw-Headers`, bytes. */
export const RAW_HEADERS_INLINE_MAX = 8 * 1024
/** Largest header block JetStream stores, bytes, less room for the headers added below. */
const MAX_HEADER_BLOCK = 64 * 1024 - 1024
/** Room kept for the protocol line and a margin when checking a dead letter against `max_payload`, bytes. */
const SIZE_MARGIN = 512
const EMPTY = new Uint8Array(0)

/** Options of {@link DeadLetterWriter}. */
export interface DeadLetterWriterOptions {
  nc: NatsConnection
  js: JetStreamClient
  payloads: DeadLetterPayloads
  /** How long to wait for JetStream to confirm, ms. */
  timeoutMs: number
}

/** What the writer stored. */
export interface StoredDeadLetter {
  id: string
  /** The payload went to Object Store under this name. */
  payloadObject?: string
}

/** A header block as the wire carries it, from headers as read. */
export function encodeHeaderBlock(headers: NonNullable<DeadLetterFacts['original']>): Uint8Array {
  let s = 'NATS/1.0\r\n'
  for (const [k, values] of headers) for (const v of values) s += `${k}: ${v}\r\n`
  return Buffer.from(`${s}\r\n`)
}

export class DeadLetterWriter {
  readonly #o: DeadLetterWriterOptions

  constructor(opts: DeadLetterWriterOptions) {
    this.#o = opts
  }

  async write(facts: DeadLetterFacts, data: Uint8Array, rawHeaders?: Uint8Array): Promise<StoredDeadLetter> {
    const id = deadLetterId(facts.fn, facts.stream, facts.seq, facts.replayId)
    let h = deadLetterHeaders(facts)
    if (facts.original && headerBytes(h) > MAX_HEADER_BLOCK) {
      // JetStream refuses a header block over 64 KiB ("header size exceeds maximum allowed of
      // 64k"): a message whose own headers are near that cannot carry them and the Fn-* headers
      // too. They are kept whole in Object Store instead, like an undecodable block.
      rawHeaders = encodeHeaderBlock(facts.original)
      h = deadLetterHeaders({ ...facts, original: null })
    }
    if (rawHeaders && rawHeaders.length > 0) {
      if (rawHeaders.length <= RAW_HEADERS_INLINE_MAX) {
        h.set(DlqHeader.RawHeaders, Buffer.from(rawHeaders).toString('base64'))
      } else {
        const name = `${id}:headers`
        await this.#o.payloads.put(name, rawHeaders, `undecodable header block of ${facts.fn} ${facts.stream}#${facts.seq}`)
        h.set(DlqHeader.RawHeadersObject, name)
      }
    }
    const maxPayload = this.#o.nc.info?.max_payload ?? 1024 * 1024
    let payload = data
    let payloadObject: string | undefined
    if (headerBytes(h) + data.length + SIZE_MARGIN > maxPayload) {
      payloadObject = id
      await this.#o.payloads.put(id, data, `dead-letter payload of ${facts.fn} ${facts.stream}#${facts.seq}`)
      h.set(DlqHeader.PayloadObject, id)
      h.set(DlqHeader.PayloadSize, String(data.length))
      payload = EMPTY
    }
    await this.#o.js.publish(deadLetterSubject(facts.fn), payload, { headers: h, timeout: this.#o.timeoutMs })
    return payloadObject ? { id, payloadObject } : { id }
  }
}
