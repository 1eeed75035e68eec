/**
 * The keys of a batch, computed in a worker thread by the function's key function (`key:
 * (event) => …`): user code, so never run on the main thread. The key function sees the event as
 * the handler would (decoded, validated by the schema when there is one). A message that cannot be
 * decoded or fails its schema gets the empty key: its run dead-letters it in order anyway. A key
 * function that throws, or returns something that is not a string or a number, dead-letters the
 * message (kind `non-retryable`, error `KeyError`): its key, and so its place, cannot be known.
 */
import { keyFromValue } from '../keys/key-spec.ts'
import type { LoadedDefinition } from './load-function-module.ts'
import type { BatchResult, BatchTask, Outcome } from './protocol.ts'
import { COLUMNS, Progress, readMessage } from './protocol.ts'
import { validateWithSchema } from './validate-with-schema.ts'
import { toWireError } from './wire-error.ts'
import { eventOf } from './invoke.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })

export async function computeKeys(task: BatchTask, def: LoadedDefinition, progress: Float64Array): Promise<BatchResult> {
  const payload = new Uint8Array(task.buffer)
  const columns = new Float64Array(task.buffer, 0, task.count * COLUMNS)
  const results: Array<[number, Outcome]> = []
  for (let index = 0; index < task.count; index++) {
    progress[index] = Date.now()
    results.push([index, await keyOfMessage(task, def, columns, payload, index)])
    progress[index] = Progress.Done
  }
  return { ok: null, results, streamed: 0 }
}

async function keyOfMessage(task: BatchTask, def: LoadedDefinition, columns: Float64Array, payload: Uint8Array, index: number): Promise<Outcome> {
  const fail = (message: string): Outcome => ({ kind: 'dead', errorKind: 'non-retryable', error: { name: 'KeyError', message }, durationMs: 0 })
  if (!def.key) return fail('the function has no key function in this version')
  const msg = readMessage(task, columns, index)
  const raw = payload.subarray(msg.offset, msg.offset + msg.length)
  let data: unknown = raw
  if (task.fn.decode === 'json') {
    try {
      data = JSON.parse(utf8.decode(raw))
    } catch {
      return { kind: 'ok', durationMs: 0, outputs: [], key: '' }
    }
    if (def.schema !== undefined) {
      const checked = await validateWithSchema(def.schema, data).catch(() => ({ ok: false as const }))
      if (!checked.ok) return { kind: 'ok', durationMs: 0, outputs: [], key: '' }
      data = checked.value
    }
  }
  const event = eventOf(task.fn, msg, raw, data)
  let value: unknown
  try {
    value = await def.key(event as never)
  } catch (err) {
    return fail(`the key function threw: ${toWireError(err).message}`)
  }
  const key = keyFromValue(value)
  return key.ok ? { kind: 'ok', durationMs: 0, outputs: [], key: key.key } : fail(key.reason)
}
