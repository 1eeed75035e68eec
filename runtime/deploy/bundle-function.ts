/**
 * Bundles a function file with esbuild into one ES module named by its content hash: npm
 * dependencies are bundled in, node built-ins stay external, and `jetfn` resolves to the small
 * handler API. The hash is the function's version: the same source gives the same bundle, so an
 * unchanged function deploys as a no-op.
 */
import { createHash } from 'node:crypto'
import { mkdir, rename, stat, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, type Message } from 'esbuild'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'

// `handler-api.ts` run from source, `handler-api.js` in the built package.
const handlerApi = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../handler-api.ts' : '../handler-api.js', import.meta.url))

/** A built bundle. */
export interface FunctionBundle {
  /** sha256 of the bundle, hex: the function's version. */
  version: string
  code: Uint8Array
  /** Where the bundle is cached on disk. */
  path: string
}

/** Options of {@link bundleFunction}. */
export interface BundleOptions {
  /** Directory the bundle is cached in, e.g. `.fn/cache/bundles`. */
  cacheDir: string
  /** Directory file names are reported relative to. Default `process.cwd()`. */
  cwd?: string
}

export async function bundleFunction(file: string, opts: BundleOptions): Promise<FunctionBundle> {
  const shown = relative(opts.cwd ?? process.cwd(), file) || file
  let code: Uint8Array
  try {
    const result = await build({
      entryPoints: [file],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      logLevel: 'silent',
      alias: { jetfn: handlerApi },
      // Bundled CommonJS dependencies may call require() for node built-ins.
      banner: { js: "import { createRequire as __jetfnCreateRequire } from 'node:module'; const require = __jetfnCreateRequire(import.meta.url);" },
    })
    code = result.outputFiles[0]!.contents
  } catch (err) {
    const first = (err as { errors?: Message[] }).errors?.[0]
    const where = first?.location ? `${first.location.file}:${first.location.line}:${first.location.column}` : shown
    throw new FnError(FnErrorCode.FunctionLoadFailed, `${shown}: build failed: ${where}: ${first?.text ?? (err as Error).message}`, { cause: err })
  }
  const version = createHash('sha256').update(code).digest('hex')
  const path = join(opts.cacheDir, `${version}.mjs`)
  await writeBundle(path, code)
  return { version, code, path }
}

/**
 * Writes a bundle to the cache unless it is already there (`replace` overwrites a file found
 * corrupt). Atomic: a reader never sees half a file.
 */
export async function writeBundle(path: string, code: Uint8Array, opts: { replace?: boolean } = {}): Promise<void> {
  if (!opts.replace && (await exists(path))) return
  await mkdir(join(path, '..'), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, code)
  await rename(tmp, path)
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    // Missing (or unreadable): it is written anew.
    return false
  }
}
