import { createRequire } from 'node:module'
import { pino, type Logger } from 'pino'

/** How worker threads log; passed as piscina `workerData` so every thread logs like the main one. */
export interface WorkerLogOptions {
  /** pino level. Default `'info'`. */
  level?: string
  /** Human-readable output (dev). Default false: one JSON object per line. */
  pretty?: boolean
}

const requireHere = createRequire(import.meta.url)

/**
 * The root logger of a worker thread. Pretty output is formatted synchronously in the thread (dev
 * only; pino-pretty is loaded only then); JSON goes straight to the thread's stdout, which Node
 * forwards to the process.
 */
export function createWorkerLogger(opts: WorkerLogOptions): Logger {
  const level = opts.level ?? 'info'
  if (!opts.pretty) return pino({ level })
  const pretty = requireHere('pino-pretty') as (o: object) => NodeJS.WritableStream
  return pino({ level }, pretty({ sync: true, colorize: !process.env.NO_COLOR, ignore: 'pid,hostname', singleLine: true }))
}
