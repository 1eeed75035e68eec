/**
 * Commands run to completion as a user would type them (`npm install`, `npx tsc`), for the tests
 * of the packed package: output collected, the exit code returned, never thrown.
 */
import { delimiter, resolve } from 'node:path'
import { spawnTied } from '../../runtime/process/spawn-tied.ts'

/** What a finished command left. */
export interface CommandResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `command args` in `cwd`; resolves when it has exited and its output has been read. */
export function run(command: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CommandResult> {
  return new Promise((done, fail) => {
    const child = spawnTied(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.once('error', fail)
    child.once('close', (code) => done({ code, stdout, stderr }))
  })
}

/**
 * The environment of a user's shell, not of `npm test` in this repository: without the `npm_*`
 * variables npm sets for its scripts (`npm_config_local_prefix` and friends would point npm at
 * this repository) and without this repository's `node_modules/.bin` on PATH.
 */
export function userEnv(repoRoot: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key)) env[key] = value
  }
  const root = resolve(repoRoot)
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '' && !resolve(dir).startsWith(root))
    .join(delimiter)
  delete env.NATS_SERVER_BIN
  return env
}
