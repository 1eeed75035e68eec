import { createRequire } from 'node:module'
import { pino, type Logger } from 'pino'

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** pino level. Default `LOG_LEVEL` or `'info'`. */
  level?: string
  /** Human-readable lines (dev); default false: one JSON object per line (production). */
  pretty?: boolean
}

const requireHere = createRequire(import.meta.url)

/** The root logger of a process. Components bind `{ component }`, functions `{ fn, version }`. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info'
  if (!opts.pretty) return pino({ level })
  const pretty = requireHere('pino-pretty') as (o: object) => NodeJS.WritableStream
  return pino({ level }, pretty({ sync: true, colorize: !process.env.NO_COLOR && process.stdout.isTTY, ignore: 'pid,hostname', singleLine: true }))
}
