/**
 * Child processes that end with this one, however it ends. Node's 'exit' handlers do not run when
 * a process is killed outright (SIGKILL, SIGTERM with no handler, a crash of Node itself), and a
 * child left behind keeps its port, its store and its share of two cores: an orphaned replica and
 * nats-server once ran beside a whole benchmark. Where util-linux's `setpriv` exists, the child is
 * started through `setpriv --pdeathsig TERM`, so the kernel sends it SIGTERM when its parent goes.
 * `setpriv` execs the command: the pid, signals and exit status are the command's own. The kernel
 * signals when the spawning thread ends: call this from the main thread only.
 */
import { accessSync, constants } from 'node:fs'
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'
import { delimiter, join } from 'node:path'

const setpriv = onPathSync('setpriv')

/** `child_process.spawn`, with the child tied to this process's life where the machine allows. */
export const spawnTied = tied as typeof spawn

function tied(command: string, args?: readonly string[] | SpawnOptions, options?: SpawnOptions): ChildProcess {
  const argv = Array.isArray(args) ? (args as readonly string[]) : []
  const opts = (Array.isArray(args) ? options : (args as SpawnOptions | undefined)) ?? {}
  return setpriv ? spawn(setpriv, ['--pdeathsig', 'TERM', '--', command, ...argv], opts) : spawn(command, argv, opts)
}

function onPathSync(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // Not in this directory.
    }
  }
  return undefined
}
