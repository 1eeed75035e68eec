/**
 * Any `fn` command as a real child process on a test project (see `dev-process.ts` for the
 * project itself): `runFn` for commands that finish (`deploy`, `rm`, `rollback`), `spawnFn` for
 * replicas (`start`), whose JSON log lines can be awaited.
 */
import { spawnTied } from '../../runtime/process/spawn-tied.ts'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { DevProject } from './dev-process.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface FnResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `fn <args> --config <project config>` to completion, with `NATS_URL` and any extra `env`. */
export function runFn(project: DevProject, args: string[], url: string, env: NodeJS.ProcessEnv = {}): Promise<FnResult> {
  return runFnProcess(ROOT, ['bin/fn.js', ...args, '--config', project.configFile], { ...env, NATS_URL: url })
}

/**
 * Runs `fn <args>` to completion in `cwd`, as a user runs a command that works on the project
 * directory itself (`fn k8s`); `env` is added to this process's environment.
 */
export function runFnIn(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<FnResult> {
  return runFnProcess(cwd, [join(ROOT, 'bin', 'fn.js'), ...args], env)
}

function runFnProcess(cwd: string, argv: string[], env: NodeJS.ProcessEnv): Promise<FnResult> {
  return new Promise((resolve, reject) => {
    const child = spawnTied(process.execPath, argv, {
      cwd,
      env: { ...process.env, ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** A running `fn start`. */
export interface FnReplica {
  readonly pid: number
  /** Parsed JSON log records so far. */
  records(): Array<Record<string, unknown>>
  /** Output lines that were not JSON records. */
  unparsed(): string[]
  /** Everything written to stderr so far (the CLI's error lines). */
  stderr(): string
  /** Everything written to stdout and stderr so far, as written. */
  output(): string
  /** Resolves with the first record for which `match` is true (seen already or to come). */
  waitFor(match: (r: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>
  kill(signal: NodeJS.Signals): void
  readonly exited: Promise<number | null>
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Starts `fn start --config <project config> [...args]` with `NATS_URL` and any extra `env`. `cwd`
 * (default: the repository) holds the replica's `.fn` bundle cache: another directory than the
 * deployer's makes it fetch bundles from the server, as a replica on another machine does.
 */
export function spawnStart(project: DevProject, url: string, label = 'fn start', args: string[] = [], cwd = ROOT, env: NodeJS.ProcessEnv = {}): FnReplica {
  const child = spawnTied(process.execPath, [join(ROOT, 'bin/fn.js'), 'start', '--config', project.configFile, ...args], {
    cwd,
    env: { ...process.env, ...env, NATS_URL: url, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const records: Array<Record<string, unknown>> = []
  const unparsed: string[] = []
  const watchers = new Set<() => void>()
  let partial = ''
  let stderr = ''
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
    const lines = (partial + chunk.toString()).split('\n')
    partial = lines.pop()!
    for (const line of lines) {
      try {
        records.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        unparsed.push(line)
      }
    }
    for (const w of [...watchers]) w()
  })
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString()
    output += c.toString()
  })
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    resolve(code)
    for (const w of [...watchers]) w()
  }))
  return {
    pid: child.pid!,
    records: () => records,
    unparsed: () => unparsed,
    stderr: () => stderr,
    output: () => output,
    waitFor(match, what, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = records.find(match)
          if (found) {
            finish()
            resolve(found)
          } else if (child.exitCode !== null || child.signalCode !== null) {
            finish()
            reject(new Error(`${label} exited before logging ${what}; stderr: ${stderr.slice(-2000)}`))
          }
        }
        const timer = setTimeout(() => {
          finish()
          reject(new Error(`${label} did not log ${what} within ${timeoutMs} ms; last records: ${JSON.stringify(records.slice(-5))}; stderr: ${stderr.slice(-1000)}`))
        }, timeoutMs)
        const finish = (): void => {
          watchers.delete(check)
          clearTimeout(timer)
        }
        watchers.add(check)
        check()
      })
    },
    kill: (signal) => void child.kill(signal),
    exited,
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}
