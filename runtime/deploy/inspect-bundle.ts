import { Worker } from 'node:worker_threads'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'

/** What a bundle says about itself, before validation. */
export interface BundleInspection {
  options: Record<string, unknown>
  hasHandler: boolean
  hasSchema: boolean
}

/** What the inspecting thread posts back. */
type InspectResult = ({ ok: true } & BundleInspection) | { ok: false; reason: string }

/**
 * The thread's code: plain JavaScript (see its header). A plain Worker rather than a piscina pool
 * per bundle, and without tsx: a deploy of 100 functions took 20 s at ~200 ms per inspection.
 */
const inspector = new URL('./inspect-worker.mjs', import.meta.url)

/**
 * Imports a bundle in a throwaway worker thread and returns its options. A module that throws at
 * import, exports nothing usable, or does not finish importing within `timeoutMs` is refused with
 * `FN_FUNCTION_LOAD_FAILED` naming the file. The thread is always terminated afterwards: a
 * module's side effects at import (timers, sockets) never outlive the inspection. `opts.env` is
 * the thread's `process.env` (default: empty); `opts.timeoutMs` defaults to 10 000.
 */
export async function inspectBundle(bundlePath: string, file: string, opts: { timeoutMs?: number; env?: Readonly<Record<string, string>> } = {}): Promise<BundleInspection> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  const refused = (reason: string, cause?: unknown): FnError => new FnError(FnErrorCode.FunctionLoadFailed, `${file}: ${reason}`, cause === undefined ? undefined : { cause })
  // execArgv []: not the parent's (`--import tsx` under the tests), which cost ~200 ms per thread.
  // env: a module's top-level code sees what handlers see (pool.env), not the deployer's credentials.
  const worker = new Worker(inspector, { execArgv: [], env: { ...(opts.env ?? {}) }, workerData: { bundlePath }, resourceLimits: { maxOldGenerationSizeMb: 256 } })
  let timer: NodeJS.Timeout | undefined
  let result: InspectResult
  try {
    result = await new Promise<InspectResult>((resolve, reject) => {
      timer = setTimeout(() => reject(refused(`did not finish importing within ${timeoutMs} ms`)), timeoutMs)
      worker.once('message', resolve)
      worker.once('error', (err) => reject(refused(`crashed its thread while importing: ${err.message}`, err)))
      worker.once('exit', (code) =>
        // Code 0 before a result: the thread ran out of work mid-import, as a top-level await
        // that nothing can ever settle leaves it (or the module called process.exit(0)).
        reject(refused(code === 0 ? 'never finishes importing: its thread ran out of work mid-import (a top-level await that nothing can settle, or process.exit(0))' : `crashed its thread while importing: it exited with code ${code}`)),
      )
    })
  } finally {
    clearTimeout(timer)
    await worker.terminate()
  }
  if (!result.ok) throw refused(result.reason)
  return result
}
