/**
 * How the pool's piscina threads are made: one thread per configured thread, never idled out,
 * no per-thread task limit, and the flags and data every thread needs.
 */
import type { Piscina } from 'piscina'
import type { WorkerLogOptions } from '../log/worker-logger.ts'
import { SHUTDOWN_CHANNEL_FIELD } from './shutdown-broadcast.ts'

type PiscinaOptions = NonNullable<ConstructorParameters<typeof Piscina>[0]>

const workerFile = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url)

/** What the threads are made from (a subset of the pool's options). */
export interface ThreadOptions {
  threads: number
  maxOldGenerationSizeMb: number
  workerLog?: WorkerLogOptions | undefined
  /** The threads' `process.env` (see worker-env.ts). Default: empty. */
  env?: Readonly<Record<string, string>> | undefined
}

export function piscinaOptions(opts: ThreadOptions, shutdownChannel: string, loadBalancer: PiscinaOptions['loadBalancer']): PiscinaOptions {
  return {
    filename: workerFile.href,
    minThreads: opts.threads,
    maxThreads: opts.threads,
    idleTimeout: Number.POSITIVE_INFINITY,
    // The main thread bounds what each function has in flight; a thread runs many async
    // handlers at once, so piscina's own per-thread limit must never be what holds work back.
    concurrentTasksPerWorker: 1 << 16,
    // With 'sync' atomics an idle piscina thread blocks in Atomics.wait, freezing the timers and
    // sockets of handlers still awaiting I/O on it.
    atomics: 'disabled',
    resourceLimits: { maxOldGenerationSizeMb: opts.maxOldGenerationSizeMb, maxYoungGenerationSizeMb: 24 },
    loadBalancer,
    workerData: { colorize: !process.env.NO_COLOR && process.stdout.isTTY === true, ...(opts.workerLog ?? {}), [SHUTDOWN_CHANNEL_FIELD]: shutdownChannel },
    // Without it a thread gets a copy of the replica's whole environment, credentials included.
    env: { ...(opts.env ?? {}) },
    execArgv: workerExecArgv(),
  }
}

/**
 * Flags of the worker threads. Worker threads do not inherit loader hooks registered at run time,
 * only `--import` flags, so a runtime run from TypeScript passes tsx on. `JETFN_WORKER_EXEC_ARGV`
 * (space-separated) adds flags for profiling, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
 */
function workerExecArgv(): string[] {
  const extra = process.env.JETFN_WORKER_EXEC_ARGV?.split(' ').filter(Boolean) ?? []
  return [...(workerFile.pathname.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : []), ...extra]
}
