import type { Logger } from 'pino'
import type { ResolvedConfig } from '../config/config-schema.ts'
import type { AttemptTracer } from './attempt-tracer.ts'
import { tracingSettings } from './tracing-settings.ts'

/**
 * The tracer of a replica when tracing is configured (see `tracing-settings.ts`), else undefined.
 * The OpenTelemetry SDK is loaded here, on demand: a replica that does not trace never loads it.
 */
export async function startTracing(config: Pick<ResolvedConfig, 'otel'>, log: Logger, instanceId: string, env: NodeJS.ProcessEnv = process.env): Promise<AttemptTracer | undefined> {
  const settings = tracingSettings(config, env)
  if (!settings) return undefined
  const { AttemptTracer } = await import('./attempt-tracer.ts')
  log.info({ target: settings.target, serviceName: settings.serviceName }, 'tracing on: spans exported over OTLP')
  return new AttemptTracer({ ...settings, instanceId }, log)
}
