import { createRequire } from 'node:module'
import { pino, type Logger } from 'pino'
import { LOG_REDACT } from './redact.ts'

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level. Default `LOG_LEVEL` or `'info'`. */
  level?: string
  /** Human-readable lines (dev); default false: one JSON object per line (production). */
  pretty?: boolean
}

const requireHere = createRequire(import.meta.url)

/**
 * The root logger of a process. Components bind `{ component }`, functions `{ fn, version }`.
 * Credentials under the usual field names are hidden and URLs lose their userinfo (see redact.ts).
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info'
  if (!opts.pretty) return pino({ level, redact: LOG_REDACT })
  const pretty = requireHere('pino-pretty') as (o: object) => NodeJS.WritableStream
  return pino({ level, redact: LOG_REDACT }, pretty({ sync: true, colorize: !process.env.NO_COLOR && process.stdout.isTTY, ignore: 'pid,hostname', singleLine: true }))
}
