/**
 * Finds a nats-server binary for `fn dev` and the tests: `NATS_SERVER_BIN`, then `nats-server` on
 * PATH, then `.fn/bin/nats-server`, then fetches one with `scripts/fetch-nats-server.sh`. The client
 * side of jetfn never needs this; only the commands that embed a server do.
 */
import { execFile, spawn } from 'node:child_process'
import { constants as fsConstants } from 'node:fs'
import { access } from 'node:fs/promises'
import { delimiter, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'

/** The least nats-server version jetfn runs against (DESIGN: "Minimum server 2.10"). */
export const MIN_NATS_SERVER_VERSION = '2.10.0'

/** A pino-compatible logger; only these three levels are used. */
export interface NatsServerLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
}

/** Options of {@link findNatsServer}. */
export interface FindNatsServerOptions {
  /** Project directory whose `.fn/bin/nats-server` is tried before the package's own. Default: `process.cwd()`. */
  cwd?: string
  /** Run `scripts/fetch-nats-server.sh` when nothing else is usable. Default: `true`. */
  fetch?: boolean
  /** Where to log the candidates passed over and the fetch's progress. Default: silent. */
  logger?: NatsServerLogger
}

/** A usable nats-server binary. */
export interface NatsServerBin {
  /** Absolute path of the binary. */
  path: string
  /** Its version without the leading `v`, e.g. `2.15.1`. */
  version: string
}

const VERSION_TIMEOUT_MS = 10_000
const FETCH_TIMEOUT_MS = 5 * 60_000
const FETCH_KILL_GRACE_MS = 5_000

/** The package root: this file lives in `runtime/nats/`. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

const HINT =
  'install nats-server >= 2.10 (brew install nats-server; docker run nats -js; ' +
  'go install github.com/nats-io/nats-server/v2@latest) and set NATS_SERVER_BIN=/path/to/nats-server'

/**
 * Extracts the version from `nats-server --version` output (`nats-server: v2.15.1`).
 * Returns `2.15.1` (a pre-release suffix such as `-RC.2` is kept), or `undefined` if there is none.
 */
export function parseNatsServerVersion(output: string): string | undefined {
  const m = /\bv?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\b/.exec(output)
  return m?.[1]
}

/**
 * Compares two `major.minor.patch[-pre]` versions: negative if `a < b`, 0 if equal, positive if
 * `a > b`. Missing parts count as 0; a pre-release sorts before its release (`2.11.0-RC.1 < 2.11.0`).
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): [number[], string] => {
    const [core = '', pre = ''] = v.replace(/^v/, '').split(/-(.*)/s)
    return [core.split('.').map((p) => Number.parseInt(p, 10) || 0), pre]
  }
  const [ac, ap] = split(a)
  const [bc, bp] = split(b)
  for (let i = 0; i < Math.max(ac.length, bc.length); i++) {
    const d = (ac[i] ?? 0) - (bc[i] ?? 0)
    if (d !== 0) return d
  }
  if (ap === bp) return 0
  if (ap === '') return 1
  if (bp === '') return -1
  return ap < bp ? -1 : 1
}

// Keyed by everything the search depends on, so a test that changes NATS_SERVER_BIN or PATH
// is not handed an earlier answer. Only successes are kept: a failed fetch may be retried.
const memo = new Map<string, Promise<NatsServerBin>>()

/**
 * Finds a usable nats-server (>= 2.10), in order: `NATS_SERVER_BIN` (which must exist and run),
 * `nats-server` on PATH, `<cwd>/.fn/bin/nats-server`, `<package>/.fn/bin/nats-server`, and then,
 * unless `fetch` is false, a binary fetched into `<cwd>/.fn/bin/` by `scripts/fetch-nats-server.sh`
 * (bounded to 5 minutes).
 * The answer is memoised per process.
 *
 * @throws {FnError} `FN_NATS_SERVER_NOT_FOUND`, with a hint on how to install one.
 */
export function findNatsServer(opts: FindNatsServerOptions = {}): Promise<NatsServerBin> {
  const cwd = resolve(opts.cwd ?? process.cwd())
  const key = [process.env.NATS_SERVER_BIN ?? '', process.env.PATH ?? '', cwd, opts.fetch !== false].join('\0')
  let found = memo.get(key)
  if (!found) {
    found = search(cwd, opts)
    memo.set(key, found)
    found.catch(() => memo.delete(key))
  }
  return found
}

async function search(cwd: string, opts: FindNatsServerOptions): Promise<NatsServerBin> {
  const log = opts.logger
  const fromEnv = process.env.NATS_SERVER_BIN
  if (fromEnv) {
    // An explicit choice is never passed over silently: if it is wrong, say so.
    const path = resolve(cwd, fromEnv)
    const bin = await probe(path)
    if (typeof bin === 'string') {
      throw new FnError(FnErrorCode.NatsServerNotFound, `NATS_SERVER_BIN=${fromEnv} is not usable: ${bin}`, {
        hint: HINT,
      })
    }
    if (compareVersions(bin.version, MIN_NATS_SERVER_VERSION) < 0) {
      throw new FnError(
        FnErrorCode.NatsServerNotFound,
        `NATS_SERVER_BIN=${fromEnv} is nats-server ${bin.version}; jetfn needs ${MIN_NATS_SERVER_VERSION} or newer`,
        { hint: HINT },
      )
    }
    return bin
  }

  const candidates = [
    await onPath('nats-server'),
    join(cwd, '.fn/bin/nats-server'),
    join(PACKAGE_ROOT, '.fn/bin/nats-server'),
  ].filter((p, i, all): p is string => p !== undefined && all.indexOf(p) === i)
  for (const path of candidates) {
    if (!(await isExecutable(path))) continue
    const bin = await probe(path)
    if (typeof bin === 'string') {
      log?.warn({ path, reason: bin }, 'nats-server passed over: it does not run')
    } else if (compareVersions(bin.version, MIN_NATS_SERVER_VERSION) < 0) {
      log?.warn(
        { path, version: bin.version, minVersion: MIN_NATS_SERVER_VERSION },
        `nats-server ${bin.version} passed over: too old`,
      )
    } else {
      log?.debug({ path, version: bin.version }, 'nats-server found')
      return bin
    }
  }

  if (opts.fetch === false) {
    throw new FnError(FnErrorCode.NatsServerNotFound, 'no nats-server >= 2.10 found (fetching was disabled)', {
      hint: HINT,
    })
  }
  const path = await fetchNatsServer(join(cwd, '.fn'), log)
  const bin = await probe(path)
  if (typeof bin === 'string' || compareVersions(bin.version, MIN_NATS_SERVER_VERSION) < 0) {
    const why = typeof bin === 'string' ? bin : `version ${bin.version} is too old`
    throw new FnError(FnErrorCode.NatsServerNotFound, `the fetched nats-server at ${path} is not usable: ${why}`, {
      hint: HINT,
    })
  }
  return bin
}

/** Runs `<path> --version`; returns the binary or a one-line reason it is unusable. */
async function probe(path: string): Promise<NatsServerBin | string> {
  const out = await new Promise<string | Error>((done) => {
    execFile(path, ['--version'], { timeout: VERSION_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      done(err ?? `${stdout}\n${stderr}`)
    })
  })
  if (out instanceof Error) {
    const e = out as NodeJS.ErrnoException & { killed?: boolean }
    if (e.code === 'ENOENT') return 'no such file'
    if (e.code === 'EACCES') return 'not executable'
    if (e.killed) return `--version did not answer within ${VERSION_TIMEOUT_MS} ms`
    return `--version failed: ${e.message.split('\n')[0]}`
  }
  const version = parseNatsServerVersion(out)
  if (!version) return `--version printed no version: ${JSON.stringify(out.trim().slice(0, 200))}`
  return { path, version }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK)
    return true
  } catch {
    // Absent or not executable: this candidate simply isn't there.
    return false
  }
}

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && (await isExecutable(join(dir, name)))) return join(dir, name)
  }
  return undefined
}

/**
 * Runs the fetch script in its own process group so that a timeout kills apt-get too, not only bash.
 * It fetches into the project's `.fn/` (`home`), not the package's: installed, the package lives in
 * node_modules, which a reinstall wipes. Its stderr is progress for the user; its last stdout line
 * is the binary's path.
 */
function fetchNatsServer(home: string, log: NatsServerLogger | undefined): Promise<string> {
  const script = join(PACKAGE_ROOT, 'scripts/fetch-nats-server.sh')
  log?.info({ script, into: join(home, 'bin') }, 'no usable nats-server found; fetching one')
  return new Promise((done, fail) => {
    const child = spawn('bash', [script], { cwd: PACKAGE_ROOT, env: { ...process.env, FN_HOME: home }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    const stderrTail: string[] = []
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      for (const line of s.split('\n').filter(Boolean)) {
        stderrTail.push(line)
        if (stderrTail.length > 20) stderrTail.shift()
        log?.info({ line }, 'fetch-nats-server')
      }
    })
    let timedOut = false
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal)
      } catch {
        // ESRCH: the group has already exited, which is what we wanted.
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      killGroup('SIGTERM')
      setTimeout(() => killGroup('SIGKILL'), FETCH_KILL_GRACE_MS).unref()
    }, FETCH_TIMEOUT_MS)
    const failWith = (why: string, cause?: unknown) =>
      fail(
        new FnError(FnErrorCode.NatsServerNotFound, `no nats-server found, and fetching one failed: ${why}`, {
          cause,
          hint: HINT,
        }),
      )
    child.on('error', (err) => {
      clearTimeout(timer)
      failWith(`could not run ${script}: ${err.message}`, err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const path = stdout.trim().split('\n').pop()?.trim()
      if (timedOut) failWith(`${script} did not finish within ${FETCH_TIMEOUT_MS / 1000} s`)
      else if (code !== 0 || !path)
        failWith(`${script} exited with ${signal ?? code}${stderrTail.length ? `: ${stderrTail.join(' | ')}` : ''}`)
      else done(path)
    })
  })
}
