/**
 * Whether a replica traces, and where it sends spans: `otel.endpoint` in `fn.config.ts`, else the
 * standard OpenTelemetry variables (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_ENDPOINT`). `OTEL_SDK_DISABLED=true` turns it off either way.
 */
import type { ResolvedConfig } from '../config/config-schema.ts'

/** What {@link AttemptTracer} is started with. */
export interface TracingSettings {
  /** Full URL spans are POSTed to (`<endpoint>/v1/traces`); undefined: the exporter reads the OTEL_* variables itself. */
  url: string | undefined
  /** Where the spans go, for logs: the URL, or the variable that sets it. */
  target: string
  serviceName: string
  instanceId?: string | undefined
  /** How long spans are batched before export, ms. */
  exportDelayMs: number
}

/** The tracing settings of `config` in `env`; undefined when tracing is off. */
export function tracingSettings(config: Pick<ResolvedConfig, 'otel'>, env: NodeJS.ProcessEnv = process.env): TracingSettings | undefined {
  if (/^true$/i.test(env.OTEL_SDK_DISABLED ?? '')) return undefined
  const serviceName = config.otel.serviceName ?? (env.OTEL_SERVICE_NAME || 'jetfn')
  const exportDelayMs = config.otel.exportDelayMs
  if (config.otel.endpoint !== undefined) {
    // As the standard variable does: the endpoint is the collector's base URL.
    const url = `${config.otel.endpoint.replace(/\/+$/, '')}/v1/traces`
    return { url, target: url, serviceName, exportDelayMs }
  }
  const fromEnv = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : env.OTEL_EXPORTER_OTLP_ENDPOINT ? 'OTEL_EXPORTER_OTLP_ENDPOINT' : undefined
  if (fromEnv === undefined) return undefined
  return { url: undefined, target: fromEnv, serviceName, exportDelayMs }
}
