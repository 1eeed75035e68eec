import { join, resolve } from 'node:path'
import { loadConfig } from '../../config/load-config.ts'
import { createLogger } from '../../log/logger.ts'
import { runReplica } from '../../replica/run-replica.ts'
import { aborted } from './dev.ts'

/** `fn start`: a production replica (JSON logs) until `signal` aborts; then it drains and exits. */
export async function runStart(opts: { configFile: string | undefined; signal: AbortSignal }): Promise<void> {
  const config = await loadConfig(opts.configFile === undefined ? {} : { file: opts.configFile })
  const log = createLogger({ pretty: false })
  const running = await runReplica({ config, log, home: join(resolve(process.cwd()), '.fn') })
  log.info({ functions: running.replica.functions, http: running.health?.port ?? null }, 'replica ready')
  await aborted(opts.signal)
  log.info({ signal: String(opts.signal.reason) }, 'stopping')
  await running.stop()
}
