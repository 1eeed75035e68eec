/**
 * A piscina task run in a throwaway thread: imports one function bundle and reports its options,
 * so that a module that throws or hangs at import never runs in the main thread.
 */
import { pathToFileURL } from 'node:url'

export type InspectResult =
  | { ok: true; options: Record<string, unknown>; hasHandler: boolean; hasSchema: boolean }
  | { ok: false; reason: string }

export default async function inspect({ bundlePath }: { bundlePath: string }): Promise<InspectResult> {
  let def: unknown
  try {
    def = ((await import(pathToFileURL(bundlePath).href)) as { default?: unknown }).default
  } catch (err) {
    return { ok: false, reason: `throws at import: ${(err as Error)?.message ?? String(err)}` }
  }
  if (typeof def !== 'object' || def === null) {
    return { ok: false, reason: 'exports no function: its default export must be defineFunction({ ... })' }
  }
  const { handler, schema, ...options } = def as Record<string, unknown>
  let plain: Record<string, unknown>
  try {
    plain = JSON.parse(JSON.stringify(options)) as Record<string, unknown>
  } catch (err) {
    return { ok: false, reason: `its options cannot be read as plain data: ${(err as Error).message}` }
  }
  return { ok: true, options: plain, hasHandler: typeof handler === 'function', hasSchema: schema !== undefined }
}
