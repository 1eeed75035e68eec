/**
 * Tracing of invocations with OpenTelemetry, on only when `otel` is configured (or
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set): one span per attempt (delivery) of a message, child of
 * the W3C trace context its publisher sent, exported over OTLP/HTTP by the official SDK.
 *
 * A span is started at the latest possible moment, when the attempt's outcome is known: before
 * its outputs are published (they need its id as their parent) or, for most messages, when it is
 * settled; its start is set back by the handler's run time. Nothing is held per message between
 * receipt and outcome, and the consumer's hot path carries no tracing state of its own.
 *
 * This module is imported only when tracing is on (see `start-tracing.ts`): with tracing off the
 * OpenTelemetry SDK is never loaded.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import type { Logger } from 'pino'
import type { InvocationEvent, InvocationObserver } from '../observe/invocation-event.ts'
import type { WireHeaders } from '../pool/protocol.ts'
import type { AttemptTracing } from '../settle/attempt-tracing.ts'
import type { Delivery } from '../settle/delivery.ts'
import { headerValue, TRACEPARENT, TRACESTATE } from './trace-context.ts'
import type { TracingSettings } from './tracing-settings.ts'

/** Span attribute names. `jetfn.*` are this runtime's; the others are OpenTelemetry's messaging conventions. */
export const SpanAttr = {
  Function: 'jetfn.function',
  Version: 'jetfn.version',
  Stream: 'jetfn.stream',
  Seq: 'jetfn.seq',
  Delivery: 'jetfn.delivery',
  Outcome: 'jetfn.outcome',
  ErrorKind: 'jetfn.error_kind',
  System: 'messaging.system',
  Destination: 'messaging.destination.name',
  Operation: 'messaging.operation.type',
  ErrorType: 'error.type',
} as const

/** Reads trace-context headers from a delivery's headers, whatever their case. */
const getter: TextMapGetter<WireHeaders> = {
  keys: (h) => (h ? h.map(([k]) => k.toLowerCase()) : []),
  get: (h, key) => headerValue(h, key),
}

/** The tracer of a replica: an {@link AttemptTracing} for the settler and an observer of settled invocations. */
export class AttemptTracer implements AttemptTracing, InvocationObserver {
  readonly #provider: BasicTracerProvider
  readonly #tracer: Tracer
  readonly #propagator = new W3CTraceContextPropagator()
  /** Spans started before their attempt settled (it had outputs); dropped with the delivery. */
  readonly #open = new WeakMap<Delivery, Span>()
  readonly #log: Logger

  constructor(settings: TracingSettings, log: Logger) {
    this.#log = log
    const exporter = new OTLPTraceExporter(settings.url === undefined ? {} : { url: settings.url })
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': settings.serviceName, ...(settings.instanceId ? { 'service.instance.id': settings.instanceId } : {}) }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: settings.exportDelayMs })],
    })
    this.#tracer = this.#provider.getTracer('jetfn')
  }

  outputHeaders(fn: string, d: Delivery): NonNullable<WireHeaders> {
    let span = this.#open.get(d)
    if (!span) {
      span = this.#start(fn, d, Date.now() - ((d as { durationMs?: number }).durationMs ?? 0))
      this.#open.set(d, span)
    }
    const carrier: Record<string, string> = {}
    this.#propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, { set: (c, k, v) => (c[k] = v) })
    const out: NonNullable<WireHeaders> = [[TRACEPARENT, [carrier[TRACEPARENT]!]]]
    if (carrier[TRACESTATE]) out.push([TRACESTATE, [carrier[TRACESTATE]]])
    return out
  }

  settled(e: InvocationEvent, d?: Delivery): void {
    if (!d) return
    let span = this.#open.get(d)
    if (span) this.#open.delete(d)
    else span = this.#start(e.fn, d, e.at - (e.durationMs ?? 0))
    span.setAttribute(SpanAttr.Version, e.version)
    span.setAttribute(SpanAttr.Outcome, e.outcome)
    if (e.errorKind) {
      span.setAttribute(SpanAttr.ErrorKind, e.errorKind)
      span.setAttribute(SpanAttr.ErrorType, e.errorKind)
    }
    if (e.outcome !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, ...(e.error ? { message: e.error } : {}) })
    span.end(e.at)
  }

  logs(): void {
    // Log lines are not traced.
  }

  #start(fn: string, d: Delivery, startMs: number): Span {
    const parent: Context = this.#propagator.extract(ROOT_CONTEXT, d.headers, getter)
    return this.#tracer.startSpan(
      `process ${fn}`,
      {
        kind: SpanKind.CONSUMER,
        startTime: startMs,
        attributes: {
          [SpanAttr.Function]: fn,
          [SpanAttr.Stream]: d.stream,
          [SpanAttr.Seq]: d.seq,
          [SpanAttr.Delivery]: d.deliveries,
          [SpanAttr.System]: 'nats',
          [SpanAttr.Destination]: d.subject,
          [SpanAttr.Operation]: 'process',
        },
      },
      parent,
    )
  }

  /** Exports what is left and stops (on replica stop). */
  async shutdown(): Promise<void> {
    try {
      await this.#provider.shutdown()
    } catch (err) {
      this.#log.warn({ err }, 'tracing: spans not exported at shutdown')
    }
  }
}
