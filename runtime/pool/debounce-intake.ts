/**
 * The worker side of `debounce`: a message that has not been debounced yet does not run its
 * handler; it becomes the pending run of its key, an output the settler stores as an `@at`
 * schedule (replacing the key's previous one) that comes back `period` later, marked as
 * debounced, to run the handler. Its key is computed here, in the handler thread, since a key
 * may be a function of the event (user code never runs on the main thread).
 */
import type { FnEvent } from '../define.ts'
import { headerValue } from '../consumer/read-headers.ts'
import type { LoadedDefinition } from './load-function-module.ts'
import type { WireFunction, WireHeaders, WireMessage, WireOutput } from './protocol.ts'

/** Set on a debounced message when it comes back: the function whose handler runs it. */
export const DEBOUNCED_HEADER = 'Fn-Debounced'

/** Whether `msg` is to be held as its key's pending run rather than run now. */
export function isDebounceIntake(fn: WireFunction, msg: WireMessage): boolean {
  return fn.debounce !== undefined && headerValue(msg.headers, DEBOUNCED_HEADER) !== fn.name
}

// Loaded on first use: zod (under key-spec) stays out of threads that never debounce.
let keys: Promise<typeof import('../keys/key-spec.ts')> | undefined

/**
 * The pending run of `msg`'s key: the message as it was (subject, payload, headers but the
 * `Nats-*` ones, which steered its own publish), due `period` from now. Rejects with a `KeyError`
 * when a key function throws or returns no key: as for ordering keys, the message is then
 * dead-lettered (its key cannot be known, so trying again changes nothing).
 */
export async function debounceOutput(def: LoadedDefinition, fn: WireFunction, msg: WireMessage, raw: Uint8Array, event: FnEvent<unknown>): Promise<WireOutput> {
  const spec = fn.debounce!
  keys ??= import('../keys/key-spec.ts')
  const k = await keys
  let key: string
  if ('function' in spec.key) {
    if (!def.debounceKey) throw keyError("debounce.key is a function in the deployed options but the module's debounce.key is not one")
    let returned: unknown
    try {
      returned = def.debounceKey(event as never)
    } catch (err) {
      throw keyError(`debounce.key threw: ${(err as Error)?.message ?? String(err)}`)
    }
    const value = k.keyFromValue(returned)
    if (!value.ok) throw keyError(`debounce.key: ${value.reason}`)
    key = value.key
  } else {
    key = k.keyOf(spec.key, msg.subject, msg.headers) ?? ''
  }
  const headers: WireHeaders = msg.headers ? msg.headers.filter(([name]) => !/^nats-/i.test(name)) : null
  return { subject: msg.subject, data: raw.slice(), headers: headers && headers.length > 0 ? headers : null, at: Date.now() + spec.periodMs, debounceKey: key }
}

function keyError(message: string): Error {
  return Object.assign(new Error(message), { name: 'KeyError' })
}
