import type { WireHeaders } from '../pool/protocol.ts'
import type { Delivery } from './delivery.ts'

/**
 * The settle side of tracing (`otel` in `fn.config.ts`): the trace-context headers that a
 * delivery's outputs carry, naming the span of the attempt that produced them as their parent.
 * Absent when tracing is off, so that settling then costs one `undefined` check per message.
 */
export interface AttemptTracing {
  /** `traceparent` (and `tracestate`) of the attempt now settling `d` of function `fn`. */
  outputHeaders(fn: string, d: Delivery): NonNullable<WireHeaders>
}
