import { join, resolve } from 'node:path'
import { loadConfig } from '../../config/load-config.ts'
import { createLogger } from '../../log/logger.ts'
import { runReplica } from '../../replica/run-replica.ts'
import { aborted } from './dev.ts'

/** How long past `shutdownGrace` a stop may take before the process exits anyway, ms. */
export const SHUTDOWN_MARGIN_MS = 5_000
/** How long the process may linger once the replica has stopped (timers of settles that NATS never confirmed), ms. */
const LINGER_MS = 1_000

/**
 * `fn start [--bind-only]`: a production replica (JSON logs) until `signal` aborts; then it
 * drains and exits. With `--bind-only` (or `provision: false`) it creates nothing.
 * A failed start-up rejects (the CLI prints it and exits 1). Shutdown always ends: within
 * `shutdownGrace` + 5 s of the signal the process exits, with code 1 if the replica had not
 * stopped by then (what it held is redelivered by the server).
 */
export async function runStart(opts: { configFile: string | undefined; signal: AbortSignal; bindOnly?: boolean }): Promise<void> {
  const loaded = await loadConfig(opts.configFile === undefined ? {} : { file: opts.configFile })
  // --bind-only wins over the file: a replica run with it never provisions.
  const config = opts.bindOnly ? Object.freeze({ ...loaded, provision: false }) : loaded
  const log = createLogger({ pretty: false })
  const limitMs = config.shutdownGraceMs + SHUTDOWN_MARGIN_MS
  const armDeadline = (): void => {
    // Unref'd: it only fires if something still holds the process up by then.
    setTimeout(() => {
      log.error({ limitMs }, 'shutdown did not finish in time: exiting now; unsettled messages are redelivered by the server')
      process.exit(1)
    }, limitMs).unref()
  }
  if (opts.signal.aborted) armDeadline()
  else opts.signal.addEventListener('abort', armDeadline, { once: true })
  const running = await runReplica({ config, log, home: join(resolve(process.cwd()), '.fn') })
  log.info({ functions: running.replica.functions, http: running.health?.port ?? null, bindOnly: !config.provision }, 'replica ready')
  await aborted(opts.signal)
  log.info({ signal: String(opts.signal.reason) }, 'stopping')
  await running.stop()
  // Everything is settled or reported; a confirmation timer of a connection already closed
  // must not hold the exit back.
  setTimeout(() => process.exit(), LINGER_MS).unref()
}
