/**
 * `fn dev`: an embedded nats-server (unless NATS_URL is set: then the servers it names, with the
 * credentials and TLS of the config and the environment), a replica that follows the
 * registry exactly as `fn start` does, every function of `functions/` deployed, and the directory
 * watched so that a saved file is deployed again. A file that fails to build or validate is
 * reported and skipped; the others keep running, and a function whose new version fails keeps
 * serving its previous one.
 */
import { watch, type FSWatcher } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { ResolvedConfig } from '../config/config-schema.ts'
import { deployFunctions } from '../deploy/deploy-functions.ts'
import { isFnError } from '../errors/fn-error.ts'
import { NatsServerProcess } from '../nats/nats-server-process.ts'
import { runReplica, type RunningReplica } from '../replica/run-replica.ts'
import { isFunctionFile, listFunctionFiles } from './function-files.ts'

/** Options of {@link startDevSession}. */
export interface DevSessionOptions {
  config: ResolvedConfig
  log: Logger
  /** Project directory: `functions/` and `.fn/` are under it. Default `process.cwd()`. */
  cwd?: string
  /**
   * Connect to `config.nats` (servers, credentials, TLS) instead of starting an embedded server.
   * Default: true when `NATS_URL` named the servers (`config.nats.serversSource === 'env'`).
   */
  external?: boolean
  /** Pretty worker logs. Default true. */
  pretty?: boolean
}

export interface DevSession {
  running: RunningReplica
  /** The server URLs clients publish to, comma-separated, never with credentials. */
  url: string
  /** Deploys one function file now (what a save does). */
  deployFile(file: string): Promise<void>
  stop(): Promise<void>
}

export async function startDevSession(opts: DevSessionOptions): Promise<DevSession> {
  const cwd = resolve(opts.cwd ?? process.cwd())
  const home = join(cwd, '.fn')
  const log = opts.log
  let server: NatsServerProcess | undefined
  let config = opts.config
  if (!(opts.external ?? config.nats.serversSource === 'env')) {
    const port = Number(new URL(config.nats.servers[0] ?? 'nats://127.0.0.1:4222').port || 4222)
    server = await NatsServerProcess.start({ port, storeDir: join(home, 'data'), keepStore: true, logger: log.child({ component: 'nats-server' }) })
    log.info({ url: server.url, store: join('.fn', 'data') }, 'embedded nats-server running')
    // The credentials and TLS of the config are for the real servers, not for this one.
    config = { ...config, nats: { servers: [server.url], serversSource: config.nats.serversSource, name: config.nats.name, origin: {} } }
  }
  const url = config.nats.servers.join(',')
  // A deploy in dev returns once the replica runs the new version (or has refused it).
  const applied = new Map<string, () => void>()
  let running: RunningReplica
  try {
    running = await runReplica({
      config,
      log,
      home,
      workerLog: { pretty: opts.pretty ?? true, level: log.level },
      // Health, readiness and metrics only when fn.config.ts asks for a port: two `fn dev` on one
      // machine must not fight over 8787.
      httpPort: config.http.portSource === 'config' ? config.http.port : 0,
      onApplied: (rev) => {
        const key = `${rev.name}@${rev.manifest?.version ?? ''}`
        applied.get(key)?.()
        applied.delete(key)
      },
    })
  } catch (err) {
    await server?.stop()
    throw err
  }
  const jsm = await jetstreamManager(running.nc)
  const deployFile = async (file: string): Promise<void> => {
    try {
      const [result] = await deployFunctions({ config, registry: running.registry, jsm, server: running.nc.info, files: [file], home, cwd })
      if (result && result.status !== 'unchanged') {
        const live = new Promise<void>((done) => applied.set(`${result.name}@${result.version}`, done))
        if (running.replica.running(result.name)?.version !== result.version) await live
        log.info({ fn: result.name, version: result.version.slice(0, 12), status: result.status }, 'function deployed')
      }
    } catch (err) {
      const reason = isFnError(err) ? `${err.code}: ${err.message}` : (err as Error).message
      log.error({ file: basename(file), reason }, 'function not deployed')
    }
  }
  const dir = resolve(cwd, config.functionsDir)
  for (const file of await listFunctionFiles(dir)) await deployFile(file)

  const watcher = watchFunctions(dir, (file) => void deployFile(file), log)
  let stopping: Promise<void> | undefined
  return {
    running,
    url,
    deployFile,
    stop() {
      stopping ??= (async () => {
        watcher?.close()
        await running.stop()
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
