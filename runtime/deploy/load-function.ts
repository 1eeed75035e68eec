/**
 * Turns a function file into something a replica can run: bundle it, inspect the bundle in a
 * throwaway thread, validate its options against the config's defaults, and find its stream.
 * Every failure names the file and the reason.
 */
import { join, relative } from 'node:path'
import type { JetStreamManager } from '@nats-io/jetstream'
import type { ResolvedConfig } from '../config/config-schema.ts'
import type { RunnableFunction } from '../consumer/function-consumer.ts'
import { resolveFunctionOptions, type ResolvedFunctionOptions } from '../function/function-options.ts'
import { findStream } from '../nats/find-stream.ts'
import { bundleFunction } from './bundle-function.ts'
import { handlerEnv } from '../pool/worker-env.ts'
import { inspectBundle } from './inspect-bundle.ts'

/** Where a replica keeps its files: bundles are cached under `<home>/cache/bundles`. */
export function bundleCacheDir(home: string): string {
  return join(home, 'cache', 'bundles')
}

/** Options of {@link loadFunctionFile}. */
export interface LoadFunctionOptions {
  config: ResolvedConfig
  jsm: JetStreamManager
  /** The `.fn` directory. */
  home: string
  cwd?: string
}

/** A function file built and validated: its options and bundle, not yet bound to a stream. */
export interface BuiltFunction {
  file: string
  options: ResolvedFunctionOptions
  version: string
  bundlePath: string
}

export async function buildFunctionFile(file: string, opts: Omit<LoadFunctionOptions, 'jsm'>): Promise<BuiltFunction> {
  const cwd = opts.cwd ?? process.cwd()
  const shown = relative(cwd, file) || file
  const bundle = await bundleFunction(file, { cacheDir: bundleCacheDir(opts.home), cwd })
  const inspected = await inspectBundle(bundle.path, shown, { env: handlerEnv(opts.config).env })
  const options = resolveFunctionOptions(
    { ...inspected.options, hasHandler: inspected.hasHandler, hasSchema: inspected.hasSchema },
    { file: shown, defaults: opts.config.defaults },
  )
  return { file: shown, options, version: bundle.version, bundlePath: bundle.path }
}

export async function loadFunctionFile(file: string, opts: LoadFunctionOptions): Promise<RunnableFunction> {
  const built = await buildFunctionFile(file, opts)
  const stream = await findStream(built.options.subject, opts.config.streams, opts.jsm, built.file)
  return toRunnable(built, stream)
}

export function toRunnable(built: Omit<BuiltFunction, 'file'>, stream: string): RunnableFunction {
  const o = built.options
  return {
    name: o.name,
    version: built.version,
    subject: o.subject,
    stream,
    bundlePath: built.bundlePath,
    decode: o.decode,
    concurrency: o.concurrency,
    timeoutMs: o.timeoutMs,
    timeoutGraceMs: o.timeoutGraceMs,
    ackWaitMs: o.ackWaitMs,
    startFrom: o.startFrom,
    retry: o.retry,
    ...(o.rateLimit ? { rateLimit: o.rateLimit } : {}),
    ...(o.maxInFlight ? { maxInFlight: o.maxInFlight } : {}),
    ...(o.keyed ? { keyed: o.keyed } : {}),
    ...(o.debounce ? { debounce: o.debounce } : {}),
  }
}
