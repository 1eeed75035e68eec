/**
 * `fn dev` as a real child process, for tests of what a user sees when a replica is signalled,
 * killed or loses its server: a temp project (an `fn.config.ts` and a functions directory written
 * from strings) under `<repo>/.fn/test/<prefix>/`, and processes that run `node bin/fn.js dev` on
 * it with `NATS_URL` set, whose combined output can be awaited line by line (`spawnWatched`: any
 * such command).
 */
import { type ChildProcess } from 'node:child_process'
import { spawnTied } from '../../runtime/process/spawn-tied.ts'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TEST_HOME = join(ROOT, '.fn', 'test')

/** A temp project: its config file and functions directory. */
export interface DevProject {
  /** `<repo>/.fn/test/<prefix>`. */
  dir: string
  /** Absolute path of its `fn.config.ts`. */
  configFile: string
  /** Absolute path of its functions directory. */
  functionsDir: string
  /** Deletes the project directory. */
  remove(): Promise<void>
}

/** Options of {@link writeDevProject}. */
export interface DevProjectOptions {
  /** Unique per test (`uniquePrefix()`): names the directory. */
  prefix: string
  /**
   * The object passed to `defineConfig` (JSON-serialisable). `functionsDir` is set to the
   * project's own directory.
   */
  config: Record<string, unknown>
  /** Function files, by file name (`slow.ts`), as source text. They may import `jetfn`. */
  functions: Record<string, string>
}

/**
 * Writes `fn.config.ts` and the function files of a test project. The config lives inside the
 * repository so that `jetfn` (aliased by the config loader and the bundler) and `zod` resolve.
 */
export async function writeDevProject(opts: DevProjectOptions): Promise<DevProject> {
  const dir = join(TEST_HOME, opts.prefix)
  const functionsDir = join(dir, 'functions')
  await mkdir(functionsDir, { recursive: true })
  for (const [name, source] of Object.entries(opts.functions)) await writeFile(join(functionsDir, name), source)
  const configFile = join(dir, 'fn.config.ts')
  const config = { ...opts.config, functionsDir }
  await writeFile(configFile, `import { defineConfig } from 'jetfn'\n\nexport default defineConfig(${JSON.stringify(config, null, 2)})\n`)
  return { dir, configFile, functionsDir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** Options of {@link spawnDev}. */
export interface SpawnDevOptions {
  /** `NATS_URL` of the child. */
  url: string
  /** Shown in timeout errors (`A`, `B`). Default `fn dev`. */
  label?: string
  /** Extra environment. */
  env?: NodeJS.ProcessEnv
}

/** A running `fn dev` process. */
export interface DevProcess {
  readonly label: string
  readonly pid: number
  /** Everything written to stdout and stderr so far, interleaved as received. */
  readonly output: string
  /** Complete lines of output so far. */
  lines(): string[]
  /**
   * Resolves with the first match of `pattern` in the output (including output already seen), or
   * rejects after `timeoutMs` (default 30 s) or when the process exits first; the error shows the
   * end of the output.
   */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  /** Sends a signal; false when the process has already exited. */
  kill(signal: NodeJS.Signals): boolean
  /** The exit code (`null` when ended by a signal, see `signalCode`). */
  readonly exited: Promise<number | null>
  /** The signal that ended the process, once it has. */
  readonly signalCode: NodeJS.Signals | null
  /** SIGKILLs the process unless it has exited, and waits for the exit. */
  [Symbol.asyncDispose](): Promise<void>
}

/** Runs `node bin/fn.js dev --config <project config>` with `NATS_URL` and `NO_COLOR=1`. */
export function spawnDev(project: DevProject, opts: SpawnDevOptions): DevProcess {
  return spawnWatched(process.execPath, ['bin/fn.js', 'dev', '--config', project.configFile], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env, NATS_URL: opts.url, NO_COLOR: '1' },
    label: opts.label ?? 'fn dev',
  })
}

/** Options of {@link spawnWatched}. */
export interface SpawnWatchedOptions {
  cwd: string
  /** The whole environment of the child. */
  env: NodeJS.ProcessEnv
  /** Shown in timeout errors. */
  label: string
  /**
   * Start the child in a process group of its own and signal the whole group, as a terminal's
   * Ctrl-C does: for commands run through a launcher such as `npx`. Default false.
   */
  group?: boolean
}

/** Runs any long-lived command whose combined output can be awaited line by line. */
export function spawnWatched(command: string, args: string[], opts: SpawnWatchedOptions): DevProcess {
  const label = opts.label
  const child: ChildProcess = spawnTied(command, args, {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.group ?? false,
  })
  const signal = (sig: NodeJS.Signals): boolean => {
    if (!opts.group) return child.kill(sig)
    try {
      process.kill(-child.pid!, sig)
      return true
    } catch {
      // ESRCH: the group has gone already.
      return false
    }
  }
  let output = ''
  const watchers = new Set<() => void>()
  const onData = (chunk: Buffer): void => {
    output += chunk.toString()
    for (const w of [...watchers]) w()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    // 'close' (not 'exit'): stdout and stderr have been read to their end by then.
    child.once('close', (code) => {
      resolve(code)
      for (const w of [...watchers]) w()
    })
  })
  const tail = (): string => output.split('\n').slice(-40).join('\n')

  return {
    label,
    pid: child.pid!,
    get output() {
      return output
    },
    lines: () => output.split('\n').slice(0, -1),
    get signalCode() {
      return child.signalCode
    },
    exited,
    kill: (sig) => child.exitCode === null && child.signalCode === null && signal(sig),
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise<RegExpMatchArray>((resolve, reject) => {
        const done = (): void => {
          watchers.delete(check)
          clearTimeout(timer)
        }
        const check = (): void => {
          const m = output.match(pattern)
          if (m) {
            done()
            resolve(m)
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done()
            reject(new Error(`${label} exited (code ${child.exitCode}, signal ${child.signalCode}) before printing ${pattern}; its output ended with:\n${tail()}`))
          }
        }
        const timer = setTimeout(() => {
          done()
          reject(new Error(`${label} did not print ${pattern} within ${timeoutMs} ms; its output ended with:\n${tail()}`))
        }, timeoutMs)
        watchers.add(check)
        check()
      })
    },
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) signal('SIGKILL')
      await exited.catch(() => undefined)
    },
  }
}

/**
 * The JSON fields of the `fn dev` log lines whose message is `msg` (pino-pretty single-line
 * format `LEVEL: msg {fields}`), in order of appearance.
 */
export function logRecords(output: string, msg: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  const marker = `: ${msg} {`
  for (const line of output.split('\n')) {
    const at = line.indexOf(marker)
    if (at < 0) continue
    try {
      out.push(JSON.parse(line.slice(at + marker.length - 1)) as Record<string, unknown>)
    } catch {
      // A line cut by the kill of its process: it says nothing reliable.
    }
  }
  return out
}

/** Source of `<prefix>_ok` on `<prefix>.in.ok`: a handler that resolves. */
export function okFunctionSource(prefix: string): string {
  return `import { defineFunction } from 'jetfn'
export default defineFunction({ name: '${prefix}_ok', subject: '${prefix}.in.ok', async handler() {} })
`
}

/** Source of `<prefix>_dead` on `<prefix>.in.dead`: a handler that throws NonRetryableError. */
export function deadFunctionSource(prefix: string): string {
  return `import { defineFunction, NonRetryableError } from 'jetfn'
export default defineFunction({ name: '${prefix}_dead', subject: '${prefix}.in.dead', async handler() { throw new NonRetryableError('never') } })
`
}
