import { loadConfig } from '../../config/load-config.ts'
import { startDevSession } from '../../dev/dev-session.ts'
import { createLogger } from '../../log/logger.ts'

/** `fn dev`: runs until `signal` aborts, then stops cleanly. */
export async function runDev(opts: { configFile: string | undefined; signal: AbortSignal }): Promise<void> {
  const config = await loadConfig(opts.configFile === undefined ? {} : { file: opts.configFile })
  const log = createLogger({ pretty: true })
  const session = await startDevSession({ config, log })
  log.info({ url: session.url, functions: session.running.replica.functions, http: session.running.health?.port ?? null }, 'fn dev ready; Ctrl-C to stop')
  await aborted(opts.signal)
  log.info({ signal: String(opts.signal.reason) }, 'stopping')
  await session.stop()
}

/** Resolves when `signal` aborts (at once if it already has). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}
