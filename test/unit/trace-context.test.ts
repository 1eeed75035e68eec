import { describe, expect, it } from 'vitest'
import { resolveConfig } from '../../runtime/config/config-schema.ts'
import { headerValue, withTraceContext } from '../../runtime/trace/trace-context.ts'
import { tracingSettings } from '../../runtime/trace/tracing-settings.ts'

const trace: [string, string[]][] = [['traceparent', ['00-aa-bb-01']], ['tracestate', ['k=v']]]

describe('trace context headers', () => {
  it('finds traceparent whatever the case of its name', () => {
    expect(headerValue([['Traceparent', ['x']]], 'traceparent')).toBe('x')
    expect(headerValue([['TRACEPARENT', ['y']]], 'traceparent')).toBe('y')
    expect(headerValue(null, 'traceparent')).toBeUndefined()
  })

  it("adds the attempt's context to an output, unless the handler set a traceparent of its own", () => {
    expect(withTraceContext(null, trace)).toEqual(trace)
    expect(withTraceContext([['a', ['1']], ['TraceState', ['old']]], trace)).toEqual([['a', ['1']], ...trace])
    const own: [string, string[]][] = [['Traceparent', ['00-cc-dd-01']]]
    expect(withTraceContext(own, trace)).toBe(own)
  })
})

describe('tracing settings', () => {
  const config = (otel?: Record<string, unknown>) => resolveConfig(otel ? { otel } : {}, { file: 'fn.config.ts', env: {} })

  it('is off without an endpoint in the config or the environment', () => {
    expect(tracingSettings(config(), {})).toBeUndefined()
  })

  it('sends to <endpoint>/v1/traces, named by the config, then OTEL_SERVICE_NAME, then jetfn', () => {
    expect(tracingSettings(config({ endpoint: 'http://collector:4318/' }), {})).toMatchObject({ url: 'http://collector:4318/v1/traces', serviceName: 'jetfn', exportDelayMs: 1000 })
    expect(tracingSettings(config({ endpoint: 'http://c:4318', serviceName: 'a' }), { OTEL_SERVICE_NAME: 'b' })?.serviceName).toBe('a')
    expect(tracingSettings(config(), { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SERVICE_NAME: 'b' })).toMatchObject({ url: undefined, target: 'OTEL_EXPORTER_OTLP_ENDPOINT', serviceName: 'b' })
    expect(tracingSettings(config({ endpoint: 'http://c:4318' }), { OTEL_SDK_DISABLED: 'true' })).toBeUndefined()
  })

  it('refuses an endpoint that is not an http URL, and a short dashboard token, naming the field', () => {
    expect(() => config({ endpoint: 'collector:4318' })).toThrow(/'otel.endpoint' must be an http:\/\/ or https:\/\/ URL/)
    expect(() => resolveConfig({ http: { token: 'short' } }, { file: 'fn.config.ts', env: {} })).toThrow(/'http.token'/)
  })
})
