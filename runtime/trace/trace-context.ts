/**
 * W3C trace context (`traceparent`, `tracestate`) as it travels in NATS message headers. Header
 * names are matched case-insensitively: nats.js and the W3C spell them in lower case, Go clients
 * (`http.Header`-style canonical names) send `Traceparent`.
 */
import type { WireHeaders } from '../pool/protocol.ts'

export const TRACEPARENT = 'traceparent'
export const TRACESTATE = 'tracestate'

/** The first value of header `name` (any case) in `headers`; undefined when absent. */
export function headerValue(headers: WireHeaders, name: string): string | undefined {
  if (!headers) return undefined
  for (const [key, values] of headers) {
    if (key.length === name.length && key.toLowerCase() === name) return values[0]
  }
  return undefined
}

/** True when `headers` has a trace-context header of its own (any case). */
export function hasTraceContext(headers: WireHeaders): boolean {
  return headerValue(headers, TRACEPARENT) !== undefined
}

/**
 * `headers` with `trace` added, unless the handler set a `traceparent` of its own (it wins: it
 * knows better which span its output continues). `headers` is not modified.
 */
export function withTraceContext(headers: WireHeaders, trace: NonNullable<WireHeaders>): NonNullable<WireHeaders> {
  if (!headers) return trace
  if (hasTraceContext(headers)) return headers
  const lower = new Set(trace.map(([k]) => k))
  return [...headers.filter(([k]) => !lower.has(k.toLowerCase())), ...trace]
}
