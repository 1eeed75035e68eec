// Runs in a throwaway thread (see inspect-bundle.ts): imports one function bundle, given as
// `workerData.bundlePath`, and posts its options back, so that a module that throws or hangs at
// import never runs in the main thread.
//
// Plain JavaScript, the one file of the runtime that is: a worker's entry does not go through
// tsx's hooks on Node 20, and loading tsx in the thread (tsImport) made each inspection ~270 ms
// against ~60 ms without it. Its result type is InspectResult in inspect-bundle.ts.
import { parentPort, workerData } from 'node:worker_threads'
import { pathToFileURL } from 'node:url'

/** @param {string} bundlePath */
async function inspect(bundlePath) {
  let def
  try {
    def = (await import(pathToFileURL(bundlePath).href)).default
  } catch (err) {
    return { ok: false, reason: `throws at import: ${err?.message ?? String(err)}` }
  }
  if (typeof def !== 'object' || def === null) {
    return { ok: false, reason: 'exports no function: its default export must be defineFunction({ ... })' }
  }
  const { handler, schema, ...options } = def
  let plain
  try {
    // A key written as a function of the event (`key`, `concurrency.key`, `debounce.key`) runs in
    // the handler threads; here it only needs to be known to be one.
    plain = JSON.parse(JSON.stringify(options, (name, value) => (name === 'key' && typeof value === 'function' ? { function: true } : value)))
  } catch (err) {
    return { ok: false, reason: `its options cannot be read as plain data: ${err.message}` }
  }
  return { ok: true, options: plain, hasHandler: typeof handler === 'function', hasSchema: schema !== undefined }
}

const port = parentPort
if (port && typeof workerData?.bundlePath === 'string') void inspect(workerData.bundlePath).then((result) => port.postMessage(result))
