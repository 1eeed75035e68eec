import { createRequire } from 'node:module'
import { pino, type Logger } from 'pino'

/** How worker threads log; passed as piscina `workerData` so every thread logs like the main one. */
export interface WorkerLogOptions {
  /** pino level. Default `'info'`. */
  level?: string
  /** Human-readable output (dev). Default false: one JSON object per line. */
  pretty?: boolean
  /**
   * Colours in pretty output. Decided by the main thread (`NO_COLOR`, a TTY): a thread's
   * environment is only what `pool.env` allows. Default false.
   */
  colorize?: boolean
}

const requireHere = createRequire(import.meta.url)

/**
 * The root logger of a worker thread. Pretty output is formatted synchronously in the thread (dev
 * only; pino-pretty is loaded only then); JSON goes straight to the thread's stdout, which Node
 * forwards to the process.
 */
export function createWorkerLogger(opts: WorkerLogOptions, capture?: (line: string, logger: Logger) => void): Logger {
  const level = opts.level ?? 'info'
  // Synchronous: a busy (CPU-bound) or terminated thread must not sit on, or lose, its lines.
  let out: pino.DestinationStream = pino.destination({ fd: 1, sync: true })
  if (opts.pretty) {
    const pretty = requireHere('pino-pretty') as (o: object) => pino.DestinationStream
    out = pretty({ sync: true, colorize: opts.colorize === true, ignore: 'pid,hostname', singleLine: true })
  }
  if (!capture) return pino({ level }, out)
  // pino writes each record synchronously inside the log call, and its logMethod hook runs with
  // the calling logger as `this`: `capture` is told which logger (a child of this root) wrote it.
  let writer: Logger | undefined
  const captured: pino.DestinationStream = {
    write: (line: string) => {
      if (writer) capture(line, writer)
    },
  }
  const hooks = {
    logMethod(this: Logger, args: Parameters<pino.LogFn>, method: pino.LogFn): void {
      const previous = writer
      writer = this
      try {
        method.apply(this, args)
      } finally {
        writer = previous
      }
    },
  }
  return pino({ level, hooks }, pino.multistream([{ stream: out, level: level as pino.Level }, { stream: captured, level: level as pino.Level }]))
}
