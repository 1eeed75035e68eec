/**
 * A nats-server child process on loopback: the embedded server of `fn dev` and the server the tests
 * spawn. It picks free ports without races (`-1` ports read back from a ports file), waits until the
 * server is ready with a deadline, and can be restarted on the same ports and store.
 */
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { spawnTied } from '../process/spawn-tied.ts'
import { findNatsServer, type NatsServerLogger } from './nats-server-bin.ts'

/** Options of {@link NatsServerProcess.start}. */
export interface NatsServerProcessOptions {
  /** Path of the nats-server binary. Default: found by `findNatsServer()`. */
  bin?: string
  /**
   * Loopback address every listener binds to. Default `127.0.0.1`. A test cluster puts each node
   * on its own (`127.0.0.2`, …) to reproduce hosts that share port numbers, as pods do.
   */
  host?: string
  /** Client port. Default: a free port chosen by the server (`-1`, `0` and unset all mean that). */
  port?: number
  /** HTTP monitoring port, always enabled because readiness is read from it. Default: a free port. */
  monitorPort?: number
  /** JetStream store directory. Default: a fresh temp dir. */
  storeDir?: string
  /** Keep the store on `stop()`. Default: `true` if `storeDir` is given, `false` for the temp store. */
  keepStore?: boolean
  /** Enable JetStream. Default: `true`. */
  jetstream?: boolean
  /** Extra command-line flags; they override the generated config file. */
  args?: string[]
  /**
   * Extra nats-server config text appended to the generated file: an `authorization` or
   * `accounts` block, `operator`/`resolver` settings, a `tls` block. Default: none.
   */
  extraConfig?: string
  /** Cluster name; setting it enables the cluster listener. */
  clusterName?: string
  /** Cluster (route) port. Default: a free port when `clusterName` is set. */
  clusterPort?: number
  /** Route URLs of the other nodes, e.g. `nats://127.0.0.1:6222`. */
  routes?: string[]
  /** Server name; a JetStream cluster needs one per node. Default: generated when `clusterName` is set. */
  serverName?: string
  /** How long start-up may take before it fails, in ms. Default: 15000. */
  readyTimeoutMs?: number
  /** How long `stop()` waits after SIGTERM before SIGKILL, in ms. Default: 10000. */
  stopTimeoutMs?: number
  /** Receives start/stop events (info), the server's errors (warn) and its log lines (debug). */
  logger?: NatsServerLogger
}

/** How a server process ended. */
export interface NatsServerExit {
  code: number | null
  signal: NodeJS.Signals | null
}

type State = 'running' | 'restarting' | 'stopping' | 'stopped' | 'failed'
interface Ports {
  port: number
  monitorPort: number
  clusterPort: number | undefined
}
/** What a (re)start needs; `stderr` holds the server's last lines across restarts. */
interface Launch {
  opts: NatsServerProcessOptions
  bin: string
  runDir: string
  removeStore: boolean
  stderr: string[]
}
interface Spawned {
  child: ChildProcess
  exited: Promise<NatsServerExit>
}

const STDERR_LINES = 100
const DEFAULT_HOST = '127.0.0.1'

/** A nats-server child process bound to loopback. Create it with {@link NatsServerProcess.start}. */
export class NatsServerProcess {
  /** Loopback address the server listens on (`host` option). */
  readonly host: string
  /** Client URL, `nats://<host>:<port>`. */
  readonly url: string
  /** Client port; `restart()` keeps it. */
  readonly port: number
  /** HTTP monitoring port (`/healthz`, `/varz`, `/jsz`). */
  readonly monitorPort: number
  /** Monitoring base URL, `http://<host>:<monitorPort>`. */
  readonly monitorUrl: string
  /** Cluster (route) port, when clustered. */
  readonly clusterPort: number | undefined
  /** Route URL other nodes use to reach this one, when clustered. */
  readonly clusterUrl: string | undefined
  /** JetStream store directory. */
  readonly storeDir: string
  readonly #launch: Launch
  #state: State = 'running'
  #current: Spawned
  #stopping: Promise<void> | undefined

  private constructor(launch: Launch, storeDir: string, ports: Ports, spawned: Spawned) {
    this.#launch = launch
    this.#current = spawned
    this.storeDir = storeDir
    ;({ port: this.port, monitorPort: this.monitorPort, clusterPort: this.clusterPort } = ports)
    this.host = launch.opts.host ?? DEFAULT_HOST
    this.url = `nats://${this.host}:${this.port}`
    this.monitorUrl = `http://${this.host}:${this.monitorPort}`
    this.clusterUrl = this.clusterPort === undefined ? undefined : `nats://${this.host}:${this.clusterPort}`
  }

  /**
   * Spawns nats-server and resolves once its ports are bound and, with JetStream, JetStream is
   * enabled. A failed start leaves nothing behind.
   *
   * @throws {FnError} `FN_NATS_SERVER_START_FAILED` with the end of the server's stderr, or
   *   `FN_NATS_SERVER_NOT_FOUND` when no `bin` is given and none is found.
   */
  static async start(opts: NatsServerProcessOptions = {}): Promise<NatsServerProcess> {
    const bin = opts.bin ?? (await findNatsServer({ logger: opts.logger })).path
    const runDir = await mkdtemp(join(tmpdir(), 'jetfn-nats-'))
    const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), 'jetfn-js-')))
    const removeStore = !(opts.keepStore ?? opts.storeDir !== undefined)
    const serverName = opts.serverName ?? (opts.clusterName && `${opts.clusterName}_${randomBytes(4).toString('hex')}`)
    const launch: Launch = { opts: { ...opts, serverName: serverName || undefined }, bin, runDir, removeStore, stderr: [] }
    let spawned: Spawned | undefined
    try {
      await writeConfig(runDir, storeDir, launch.opts)
      spawned = spawnServer(launch)
      const ports = await waitReady(launch, spawned)
      // Later restarts must come back on the same ports: clients and other nodes hold them.
      await writeConfig(runDir, storeDir, { ...launch.opts, ...ports })
      const server = new NatsServerProcess(launch, storeDir, ports, spawned)
      opts.logger?.info({ url: server.url, pid: server.pid, storeDir }, 'nats-server started')
      return server
    } catch (err) {
      spawned?.child.kill('SIGKILL')
      await rm(runDir, { recursive: true, force: true })
      if (removeStore) await rm(storeDir, { recursive: true, force: true })
      throw err
    }
  }

  /** Process id of the current server process; it changes on `restart()`. */
  get pid(): number | undefined {
    return this.#current.child.pid
  }

  /** The last ~100 lines the server wrote to stderr, oldest first. */
  get stderrTail(): string {
    return this.#launch.stderr.join('\n')
  }

  /** Sends a signal to the server process: SIGKILL simulates a crash, SIGUSR2 enters lame duck mode. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.#current.child.kill(signal)
  }

  /** Resolves when the current server process has exited, however that happened. */
  waitForExit(): Promise<NatsServerExit> {
    return this.#current.exited
  }

  /**
   * Stops the server process and starts it again on the same ports and store. Works after `kill()`.
   *
   * @throws {FnError} `FN_INVALID_STATE` once stopping; `FN_NATS_SERVER_START_FAILED` if it does not come back.
   */
  async restart(): Promise<void> {
    if (this.#state !== 'running' && this.#state !== 'failed') {
      throw new FnError(FnErrorCode.InvalidState, `cannot restart a nats-server that is ${this.#state}`)
    }
    this.#state = 'restarting'
    await this.#terminate()
    if (this.#state !== 'restarting') {
      // stop() ran meanwhile: spawning now would leave a server that nobody stops.
      throw new FnError(FnErrorCode.InvalidState, `nats-server was ${this.#state} during restart`)
    }
    this.#launch.stderr.length = 0
    try {
      this.#current = spawnServer(this.#launch)
      await waitReady(this.#launch, this.#current)
      this.#state = 'running'
      this.#launch.opts.logger?.info({ url: this.url, pid: this.pid }, 'nats-server restarted')
    } catch (err) {
      if (this.#state === 'restarting') this.#state = 'failed'
      throw err
    }
  }

  /**
   * Stops the server (SIGTERM, then SIGKILL after `stopTimeoutMs`), then deletes its config and,
   * unless kept, its store. Runs once; later calls return the same promise.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  /** Same as {@link stop}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }

  async #stop(): Promise<void> {
    this.#state = 'stopping'
    const { opts, runDir, removeStore } = this.#launch
    const errors: unknown[] = []
    const step = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await fn()
      } catch (err) {
        errors.push(err)
        opts.logger?.warn({ err, step: name }, 'nats-server stop step failed')
      }
    }
    await step('terminate', () => this.#terminate())
    await step('remove run dir', () => rm(runDir, { recursive: true, force: true }))
    if (removeStore) await step('remove store', () => rm(this.storeDir, { recursive: true, force: true }))
    this.#state = 'stopped'
    opts.logger?.info({ url: this.url }, 'nats-server stopped')
    if (errors.length > 0) throw errors.length === 1 ? errors[0] : new AggregateError(errors, 'nats-server stop failed')
  }

  async #terminate(): Promise<void> {
    const { child, exited } = this.#current
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((done) => (timer = setTimeout(done, this.#launch.opts.stopTimeoutMs ?? 10_000, 'late')))
    const result = await Promise.race([exited, late])
    clearTimeout(timer)
    if (result === 'late') {
      this.#launch.opts.logger?.warn({ pid: child.pid }, 'nats-server ignored SIGTERM; killing it')
      child.kill('SIGKILL')
      await exited
    }
  }
}

/** Writes `server.conf`. Strings are JSON-quoted, which the NATS config parser reads as strings. */
async function writeConfig(runDir: string, storeDir: string, o: NatsServerProcessOptions): Promise<void> {
  const q = JSON.stringify
  // nats-server reads port 0 as "the default port" (4222); -1 is its "any free port".
  const hostPort = (port: number | undefined) => q(`${o.host ?? DEFAULT_HOST}:${port ? port : -1}`)
  const lines = [`listen: ${hostPort(o.port)}`, `http: ${hostPort(o.monitorPort)}`, `ports_file_dir: ${q(runDir)}`]
  if (o.serverName) lines.push(`server_name: ${q(o.serverName)}`)
  if (o.jetstream !== false) lines.push(`jetstream { store_dir: ${q(storeDir)} }`)
  if (o.clusterName) {
    const routes = (o.routes ?? []).map((r) => q(r)).join(', ')
    lines.push(`cluster { name: ${q(o.clusterName)}, listen: ${hostPort(o.clusterPort)}, routes: [${routes}] }`)
  }
  if (o.extraConfig) lines.push(o.extraConfig)
  await writeFile(join(runDir, 'server.conf'), lines.join('\n') + '\n')
}

// Children still alive when this process exits would outlive it as orphans holding ports and
// stores. One listener for all of them rather than one per server keeps clear of MaxListeners.
const live = new Set<ChildProcess>()
process.once('exit', () => live.forEach((c) => c.kill('SIGTERM')))

/**
 * Tied to this process (see spawnTied): a killed `fn dev`, test run or benchmark does not leave its
 * server running on the port and store (the next `fn dev` would find 4222 taken).
 */
function spawnServer({ bin, runDir, opts, stderr }: Launch): Spawned {
  const child = spawnTied(bin, ['-c', join(runDir, 'server.conf'), ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  const exited = new Promise<NatsServerExit>((done) => {
    child.once('exit', (code, signal) => done({ code, signal }))
    // A failed spawn (ENOENT, EACCES) emits 'error' and no 'exit'.
    child.once('error', (err) => {
      keep(stderr, `spawn ${bin}: ${err.message}`)
      done({ code: null, signal: null })
    })
  })
  void exited.then(() => live.delete(child))
  let partial = ''
  const onData = (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      keep(stderr, line)
      if (/\[(ERR|FTL)\]/.test(line)) opts.logger?.warn({ pid: child.pid, line }, 'nats-server error')
      else opts.logger?.debug({ pid: child.pid, line }, 'nats-server log')
    }
  }
  child.stderr?.setEncoding('utf8').on('data', onData)
  child.stdout?.setEncoding('utf8').on('data', onData)
  return { child, exited }
}

function keep(lines: string[], line: string): void {
  lines.push(line)
  if (lines.length > STDERR_LINES) lines.splice(0, lines.length - STDERR_LINES)
}

/**
 * Waits for the ports file (written once every listener is bound), then for `/healthz` (with
 * JetStream, `js-enabled-only`: a cluster node is ready before the others have joined), racing both
 * against the process exiting and the deadline. A server that is not ready is killed.
 */
async function waitReady({ opts, runDir, stderr }: Launch, { child, exited }: Spawned): Promise<Ports> {
  const timeoutMs = opts.readyTimeoutMs ?? 15_000
  const done = new AbortController()
  const signal = AbortSignal.any([done.signal, AbortSignal.timeout(timeoutMs)])
  const failed = (why: string, cause?: unknown) => {
    // The cause is often above the tail: a bad flag is followed by the whole usage text.
    const tail = stderr.slice(-20)
    const errors = stderr.filter((l) => /\[(FTL|ERR)\]|error|flag provided/i.test(l) && !tail.includes(l)).slice(-5)
    return new FnError(FnErrorCode.NatsServerStartFailed, `nats-server ${why}\n${[...errors, ...tail].join('\n')}`, {
      cause,
      hint: 'the lines above are from its stderr',
    })
  }
  const poll = async (): Promise<Ports> => {
    let ports: Ports | undefined
    while (!(ports = await readPorts(runDir, child.pid))) await delay(20, undefined, { signal })
    const health = opts.jetstream === false ? '/healthz' : '/healthz?js-enabled-only=true'
    while (!(await isHealthy(`http://${opts.host ?? DEFAULT_HOST}:${ports.monitorPort}${health}`))) await delay(50, undefined, { signal })
    return ports
  }
  const early = exited.then((e) => {
    throw failed(`exited during start-up (code ${e.code}, signal ${e.signal})`)
  })
  try {
    return await Promise.race([poll(), early])
  } catch (err) {
    child.kill('SIGKILL')
    if (err instanceof FnError) throw err
    throw signal.aborted ? failed(`was not ready within ${timeoutMs} ms`, err) : failed('could not be started', err)
  } finally {
    done.abort()
    // The losing side of the race must not surface as an unhandled rejection.
    early.catch(() => undefined)
  }
}

/** Reads the ports file of process `pid`; one still being written reads as nothing yet. */
async function readPorts(runDir: string, pid: number | undefined): Promise<Ports | undefined> {
  const name = (await readdir(runDir)).find((f) => f.endsWith(`_${pid}.ports`))
  if (!name) return undefined
  try {
    const raw = JSON.parse(await readFile(join(runDir, name), 'utf8')) as Record<string, string[] | undefined>
    const port = (key: string) => {
      const url = raw[key]?.[0]
      return url ? Number(new URL(url).port) : undefined
    }
    const [client, monitor] = [port('nats'), port('monitoring')]
    return client && monitor ? { port: client, monitorPort: monitor, clusterPort: port('cluster') } : undefined
  } catch {
    // Half-written JSON: the next poll reads the whole file.
    return undefined
  }
}

async function isHealthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) })
    await res.body?.cancel()
    return res.ok
  } catch {
    // Not listening yet, or too slow to answer: the caller polls again until its deadline.
    return false
  }
}
