import { pathToFileURL } from 'node:url'
import type { FunctionDefinition } from '../define.ts'

/** A function module as a worker uses it: the handler and the optional schema. */
export interface LoadedDefinition {
  handler: FunctionDefinition['handler']
  schema: FunctionDefinition['schema']
}

const cache = new Map<string, Promise<LoadedDefinition>>()

/**
 * Imports a function bundle once per thread and checks its default export. Bundles are named by
 * their content hash, so a path always means the same code and the cache never goes stale.
 */
export function loadFunctionModule(bundlePath: string): Promise<LoadedDefinition> {
  let loaded = cache.get(bundlePath)
  if (!loaded) {
    loaded = importDefinition(bundlePath)
    // A failed import is not cached: a later batch tries again (the failure is reported each time).
    loaded.catch(() => cache.delete(bundlePath))
    cache.set(bundlePath, loaded)
  }
  return loaded
}

async function importDefinition(bundlePath: string): Promise<LoadedDefinition> {
  const mod = (await import(pathToFileURL(bundlePath).href)) as { default?: unknown }
  const def = mod.default as Partial<FunctionDefinition> | undefined
  if (typeof def !== 'object' || def === null || typeof def.handler !== 'function') {
    throw new TypeError('the default export is not a function made by defineFunction()')
  }
  return { handler: def.handler, schema: def.schema }
}
