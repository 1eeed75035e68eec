/**
 * Loads `fn.config.ts`: compiles it with esbuild (so it may be TypeScript and import local files),
 * imports the result and resolves its default export into a {@link ResolvedConfig}.
 */
import { createHash, randomUUID } from 'node:crypto'
import { mkdir, rename, stat, writeFile } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build, type Message, type Plugin } from 'esbuild'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { resolveConfig, type ResolvedConfig } from './config-schema.ts'

/** The config file used when none is given, relative to the working directory. */
export const DEFAULT_CONFIG_FILE = 'fn.config.ts'

// `import { defineConfig } from 'jetfn'` must work in a project that has not installed jetfn (and
// in this repository itself), and must not drag the runtime into the config: point it at the
// dependency-free define module (`define.ts` run from source, `define.js` in the built package).
const DEFINE_MODULE = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../define.ts' : '../define.js', import.meta.url))

const jetfnAlias: Plugin = {
  name: 'jetfn-alias',
  setup(b) {
    // Runs before `packages: 'external'` and before tsconfig `paths`, so it always wins.
    b.onResolve({ filter: /^jetfn$/ }, () => ({ path: DEFINE_MODULE }))
  },
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The config file, relative to `cwd`. Default: `fn.config.ts`; when not given, a missing file means all defaults. */
  file?: string
  /** Working directory: base of `file` and home of the `.fn/cache` compile cache. Default: `process.cwd()`. */
  cwd?: string
  /** Environment; `NATS_URL` replaces `nats.servers`. Default: `process.env`. */
  env?: NodeJS.ProcessEnv
  /** When true, a missing default config file is an error too. Default: false. */
  required?: boolean
}

function configError(label: string, message: string, cause?: unknown, hint?: string): FnError {
  return new FnError(FnErrorCode.ConfigInvalid, `${label}: ${message}`, { cause, hint })
}

function formatBuildMessage(m: Message | undefined, cwd: string): string {
  if (m === undefined) return 'build failed'
  if (m.location === null) return m.text
  const { file, line, column } = m.location
  // esbuild counts columns from 0; editors and terminals count from 1.
  return `${file}:${line}:${column + 1}: ${m.text}`.replace(`${cwd}/`, '')
}

async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/**
 * Finds, compiles, imports and resolves the config file.
 *
 * The compiled module is written to `<cwd>/.fn/cache/config-<sha256>.mjs` and imported from there:
 * naming it by content makes an edited config a new module URL (Node caches ES modules by URL for
 * the life of the process) and lets concurrent processes share the file. Bare imports are left to
 * Node, resolved from `<cwd>`'s `node_modules`.
 *
 * @throws FnError `FN_CONFIG_INVALID` when the file given is missing, does not build, throws while
 *   imported, has no default export, or fails validation; the message starts with the file.
 */
export async function loadConfig(opts: LoadConfigOptions = {}): Promise<ResolvedConfig> {
  return (await loadConfigDetails(opts)).config
}

/** A loaded config with what it was made from: for tools that package the project (`fn k8s`). */
export interface LoadedConfig {
  config: ResolvedConfig
  /** The default export as written (before defaults); `{}` for an absent default file. */
  input: unknown
  /** The config file relative to `cwd` (or absolute when outside it); undefined for an absent default file. */
  file: string | undefined
  /**
   * The project's own files the config is built from, relative to `cwd`, sorted: the config file
   * and the local modules it imports (not packages, not jetfn). Empty for an absent default file.
   */
  sources: string[]
  /** The compiled module's text (local imports bundled in): what the config's literals are. */
  code: string
}

/** {@link loadConfig}, keeping the input, the compiled code and the source files. Same errors. */
export async function loadConfigDetails(opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = resolve(opts.cwd ?? process.cwd())
  const env = opts.env ?? process.env
  const path = resolve(cwd, opts.file ?? DEFAULT_CONFIG_FILE)
  const rel = relative(cwd, path)
  const label = rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel

  if (!(await fileExists(path))) {
    if (opts.file === undefined && opts.required !== true) return { config: resolveConfig({}, { file: label, env }), input: {}, file: undefined, sources: [], code: '' }
    const hint = opts.file === undefined ? `create ${label} or pass --config <file>` : 'check the path given to --config'
    throw configError(label, 'file not found', undefined, hint)
  }

  let code: string
  let inputs: string[]
  try {
    const result = await build({
      entryPoints: [path],
      absWorkingDir: cwd,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      plugins: [jetfnAlias],
      write: false,
      metafile: true,
      logLevel: 'silent',
    })
    code = result.outputFiles[0]?.text ?? ''
    inputs = Object.keys(result.metafile.inputs)
  } catch (err) {
    const first = (err as { errors?: Message[] }).errors?.[0]
    throw configError(label, `build failed: ${formatBuildMessage(first, cwd)}`, err)
  }

  const hash = createHash('sha256').update(code).digest('hex')
  const cacheDir = join(cwd, '.fn', 'cache')
  const out = join(cacheDir, `config-${hash}.mjs`)
  if (!(await fileExists(out))) {
    await mkdir(cacheDir, { recursive: true })
    // Write then rename: a process importing the same hash never sees a half-written module.
    const tmp = `${out}.${randomUUID()}.tmp`
    await writeFile(tmp, code)
    await rename(tmp, out)
  }

  let mod: { default?: unknown }
  try {
    mod = (await import(/* @vite-ignore */ pathToFileURL(out).href)) as { default?: unknown }
  } catch (err) {
    throw configError(label, `threw while loading: ${err instanceof Error ? err.message : String(err)}`, err)
  }
  if (mod.default === undefined) {
    throw configError(label, 'has no default export', undefined, 'end it with `export default defineConfig({ ... })`')
  }
  // esbuild names inputs relative to absWorkingDir; jetfn's own define module and packages are
  // outside the project's files.
  const sources = inputs
    .map((input) => relative(cwd, resolve(cwd, input)))
    .filter((rel) => rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && !rel.split(/[\\/]/).includes('node_modules'))
    .sort()
  return { config: resolveConfig(mod.default, { file: label, env }), input: mod.default, file: label, sources, code }
}
