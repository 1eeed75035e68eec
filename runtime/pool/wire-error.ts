import type { WireError } from './protocol.ts'

/** Turns anything thrown into the plain `{ name, message, stack }` that crosses threads. */
export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    return { name: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}) }
  }
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    return { name: String((err as { name?: unknown }).name ?? 'Error'), message: (err as { message: string }).message }
  }
  return { name: 'Error', message: typeof err === 'string' ? err : `non-error thrown: ${safeString(err)}` }
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    // A value that cannot be serialised (cyclic, BigInt) is still reported by its type.
    return Object.prototype.toString.call(value)
  }
}
