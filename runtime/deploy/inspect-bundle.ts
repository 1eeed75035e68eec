import { Piscina } from 'piscina'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import type { InspectResult } from './inspect-worker.ts'

/** What a bundle says about itself, before validation. */
export interface BundleInspection {
  options: Record<string, unknown>
  hasHandler: boolean
  hasSchema: boolean
}

const inspector = new URL(import.meta.url.endsWith('.ts') ? './inspect-worker.ts' : './inspect-worker.js', import.meta.url)

/**
 * Imports a bundle in a throwaway worker thread and returns its options. A module that throws at
 * import, exports nothing usable, or does not finish importing within `timeoutMs` is refused with
 * `FN_FUNCTION_LOAD_FAILED` naming the file. The thread is always terminated afterwards: a
 * module's side effects at import (timers, sockets) never outlive the inspection.
 */
export async function inspectBundle(bundlePath: string, file: string, timeoutMs = 10_000): Promise<BundleInspection> {
  const pool = new Piscina({
    filename: inspector.href,
    minThreads: 1,
    maxThreads: 1,
    resourceLimits: { maxOldGenerationSizeMb: 256 },
    // Worker threads do not inherit loader hooks registered at run time, only --import flags.
    ...(inspector.pathname.endsWith('.ts') ? { execArgv: ['--import', import.meta.resolve('tsx')] } : {}),
  })
  const signal = AbortSignal.timeout(timeoutMs)
  let result: InspectResult
  try {
    result = (await pool.run({ bundlePath }, { signal })) as InspectResult
  } catch (err) {
    const reason = signal.aborted ? `did not finish importing within ${timeoutMs} ms` : `crashed its thread while importing: ${(err as Error).message}`
    throw new FnError(FnErrorCode.FunctionLoadFailed, `${file}: ${reason}`, { cause: err })
  } finally {
    await pool.destroy()
  }
  if (!result.ok) throw new FnError(FnErrorCode.FunctionLoadFailed, `${file}: ${result.reason}`)
  return result
}
