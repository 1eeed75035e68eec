import { pathToFileURL } from 'node:url'
import type { FunctionDefinition } from '../define.ts'

/** A function module as a worker uses it: the handler, the optional schema and debounce key function. */
export interface LoadedDefinition {
  handler: FunctionDefinition['handler']
  schema: FunctionDefinition['schema']
  /** The function of the event that gives a message's key (`key`, or `concurrency.key`), when it is one. */
  key?: ((event: never) => unknown) | undefined
  /** `debounce.key` when it is a function of the event. */
  debounceKey?: ((event: never) => unknown) | undefined
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
  const concurrency = def.concurrency as { key?: unknown } | number | undefined
  const key = typeof def.key === 'function' ? def.key : typeof concurrency === 'object' && typeof concurrency.key === 'function' ? concurrency.key : undefined
  const debounceKey = typeof def.debounce?.key === 'function' ? def.debounce.key : undefined
  return { handler: def.handler, schema: def.schema, key: key as LoadedDefinition['key'], debounceKey: debounceKey as LoadedDefinition['debounceKey'] }
}
