/**
 * An OTLP/HTTP trace receiver in the test process: what a collector would get from a replica.
 * It takes the JSON encoding (what `@opentelemetry/exporter-trace-otlp-http` sends), gzip or not,
 * and keeps every span with its resource's `service.name`.
 */
import { createServer, type Server } from 'node:http'
import { gunzipSync } from 'node:zlib'

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number }

/** A span as received, attributes flattened to plain values. */
export interface ReceivedSpan {
  service: string
  name: string
  traceId: string
  spanId: string
  parentSpanId: string | undefined
  kind: number
  status: { code?: number; message?: string }
  attributes: Record<string, string | number | boolean | undefined>
}

export interface OtlpReceiver {
  /** Base URL, as `otel.endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT` takes it. */
  url: string
  spans: ReceivedSpan[]
  close(): Promise<void>
}

function plain(v: AnyValue | undefined): string | number | boolean | undefined {
  if (!v) return undefined
  if (v.stringValue !== undefined) return v.stringValue
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.doubleValue !== undefined) return v.doubleValue
  return v.boolValue
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.url !== '/v1/traces' || req.method !== 'POST') {
        res.writeHead(404).end()
        return
      }
      let body = Buffer.concat(chunks)
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body)
      const doc = JSON.parse(body.toString()) as {
        resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: AnyValue }> }; scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>
      }
      for (const rs of doc.resourceSpans) {
        const service = String(plain(rs.resource.attributes.find((a) => a.key === 'service.name')?.value))
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            const attributes: ReceivedSpan['attributes'] = {}
            for (const a of s.attributes as Array<{ key: string; value: AnyValue }>) attributes[a.key] = plain(a.value)
            spans.push({
              service,
              name: s.name as string,
              traceId: s.traceId as string,
              spanId: s.spanId as string,
              parentSpanId: (s.parentSpanId as string | undefined) || undefined,
              kind: s.kind as number,
              status: (s.status as ReceivedSpan['status']) ?? {},
              attributes,
            })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
