import { COLUMNS, type BatchTask, type WireHeaders } from '../pool/protocol.ts'
import type { Delivery } from '../settle/delivery.ts'

/** The part of a {@link BatchTask} that describes its messages. */
export type EncodedBatch = Pick<BatchTask, 'count' | 'buffer' | 'subjects' | 'headers'>

/**
 * Encodes deliveries for one thread hop: per-message numbers in Float64 columns and every payload
 * copied once, all in one buffer that is transferred (not cloned) to the worker. The copy is
 * required: `data` is a view into the socket's read buffer and must not be transferred.
 * Subjects are sent once per distinct subject, headers only when a message has some.
 */
export function encodeBatch(batch: readonly Delivery[]): EncodedBatch {
  const count = batch.length
  const head = count * COLUMNS * Float64Array.BYTES_PER_ELEMENT
  let bytes = head
  for (let i = 0; i < count; i++) bytes += batch[i]!.data.length
  const buffer = new ArrayBuffer(bytes)
  const columns = new Float64Array(buffer, 0, count * COLUMNS)
  const view = new Uint8Array(buffer)
  const subjects: string[] = []
  let lastSubject = ''
  let lastIndex = -1
  let headers: WireHeaders[] | null = null
  let offset = head
  for (let i = 0; i < count; i++) {
    const d = batch[i]!
    const data = d.data
    view.set(data, offset)
    const subject = d.subject
    if (subject !== lastSubject || lastIndex < 0) {
      lastIndex = subjects.indexOf(subject)
      if (lastIndex < 0) lastIndex = subjects.push(subject) - 1
      lastSubject = subject
    }
    const at = i * COLUMNS
    columns[at] = d.seq
    columns[at + 1] = d.deliveries
    columns[at + 2] = d.timeMs
    columns[at + 3] = offset
    columns[at + 4] = data.length
    columns[at + 5] = lastIndex
    offset += data.length
    if (d.headers) (headers ??= new Array<WireHeaders>(count).fill(null))[i] = d.headers
  }
  return { count, buffer, subjects, headers }
}
