/**
 * `fn dev`: an embedded nats-server (unless NATS_URL is set), one replica, every function of
 * `functions/` loaded, and the directory watched so that a saved file is rebuilt and hot-swapped.
 * A file that fails to build or validate is reported and skipped; the others keep running, and a
 * function whose new version fails keeps serving its previous one.
 */
import { watch, type FSWatcher } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import type { Logger } from 'pino'
import type { ResolvedConfig } from '../config/config-schema.ts'
import { loadFunctionFile } from '../deploy/load-function.ts'
import { isFnError } from '../errors/fn-error.ts'
import { NatsServerProcess } from '../nats/nats-server-process.ts'
import { Replica } from '../replica/replica.ts'
import { isFunctionFile, listFunctionFiles } from './function-files.ts'

/** Options of {@link startDevSession}. */
export interface DevSessionOptions {
  config: ResolvedConfig
  log: Logger
  /** Project directory: `functions/` and `.fn/` are under it. Default `process.cwd()`. */
  cwd?: string
  /** Use this NATS URL instead of an embedded server. Default: `NATS_URL`. */
  natsUrl?: string | undefined
  /** Pretty worker logs. Default true. */
  pretty?: boolean
}

export interface DevSession {
  replica: Replica
  /** The URL clients publish to. */
  url: string
  stop(): Promise<void>
}

export async function startDevSession(opts: DevSessionOptions): Promise<DevSession> {
  const cwd = resolve(opts.cwd ?? process.cwd())
  const home = join(cwd, '.fn')
  const log = opts.log
  let server: NatsServerProcess | undefined
  let url = opts.natsUrl
  if (!url) {
    const port = Number(new URL(opts.config.nats.servers[0] ?? 'nats://127.0.0.1:4222').port || 4222)
    server = await NatsServerProcess.start({ port, storeDir: join(home, 'data'), keepStore: true, logger: log.child({ component: 'nats-server' }) })
    url = server.url
    log.info({ url, store: join('.fn', 'data') }, 'embedded nats-server running')
  }
  const config: ResolvedConfig = { ...opts.config, nats: { ...opts.config.nats, servers: [url] } }
  const replica = new Replica({ config, log, workerLog: { pretty: opts.pretty ?? true, level: log.level } })
  try {
    await replica.start()
  } catch (err) {
    await server?.stop()
    throw err
  }
  const dir = resolve(cwd, config.functionsDir)
  const owners = new Map<string, string>()
  const load = async (file: string): Promise<void> => {
    try {
      const fn = await loadFunctionFile(file, { config, jsm: replica.jsm, home, cwd })
      const owner = owners.get(fn.name)
      if (owner && owner !== file) {
        log.error({ file, fn: fn.name, other: owner }, 'two files define the same function name; this one is skipped')
        return
      }
      owners.set(fn.name, file)
      await replica.deploy(fn)
      log.info({ fn: fn.name, version: fn.version.slice(0, 12), subject: fn.subject, stream: fn.stream }, 'function deployed')
    } catch (err) {
      const reason = isFnError(err) ? `${err.code}: ${err.message}` : (err as Error).message
      log.error({ file: basename(file), reason }, 'function not deployed')
    }
  }
  for (const file of await listFunctionFiles(dir)) await load(file)

  const watcher = watchFunctions(dir, (file) => void load(file), log)
  let stopping: Promise<void> | undefined
  return {
    replica,
    url,
    stop() {
      stopping ??= (async () => {
        watcher?.close()
        await replica.stop()
        await server?.stop()
      })()
      return stopping
    },
  }
}

/** Calls `onChange` once per saved function file, 150 ms after the last write to it. */
function watchFunctions(dir: string, onChange: (file: string) => void, log: Logger): FSWatcher | undefined {
  const timers = new Map<string, NodeJS.Timeout>()
  try {
    const w = watch(dir, (_event, name) => {
      if (!name || !isFunctionFile(name)) return
      const file = join(dir, name)
      clearTimeout(timers.get(file))
      timers.set(file, setTimeout(() => {
        timers.delete(file)
        log.info({ file: name }, 'change detected; redeploying')
        onChange(file)
      }, 150))
    })
    w.on('error', (err) => log.warn({ err }, 'watching functions/ failed; saves are no longer picked up'))
    return w
  } catch (err) {
    log.warn({ err, dir }, 'cannot watch functions/; saves are not picked up')
    return undefined
  }
}
