import type { Msg } from '@nats-io/transport-node'
import type { WireHeaders, WireMessage } from '../pool/protocol.ts'
import type { Delivery } from '../settle/delivery.ts'

/**
 * Encodes deliveries for one thread hop: every payload copied once into a single buffer that is
 * transferred (not cloned) to the worker, and one small descriptor per message. The copy is
 * required: `msg.data` is a view into the socket's read buffer and must not be transferred.
 */
export function encodeBatch(batch: readonly Delivery[]): { messages: WireMessage[]; payload: ArrayBuffer } {
  let bytes = 0
  for (const d of batch) bytes += d.msg.data.length
  const payload = new ArrayBuffer(bytes)
  const view = new Uint8Array(payload)
  const messages: WireMessage[] = new Array(batch.length)
  let offset = 0
  for (let i = 0; i < batch.length; i++) {
    const d = batch[i]!
    view.set(d.msg.data, offset)
    messages[i] = {
      seq: d.seq,
      deliveries: d.deliveries,
      subject: d.msg.subject,
      timeMs: d.timeMs,
      headers: wireHeaders(d.msg),
      offset,
      length: d.msg.data.length,
    }
    offset += d.msg.data.length
  }
  return { messages, payload }
}

function wireHeaders(msg: Msg): WireHeaders {
  const h = msg.headers
  if (!h) return null
  const out: Array<[string, string[]]> = []
  for (const key of h.keys()) out.push([key, h.values(key)])
  return out
}
