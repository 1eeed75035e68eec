/**
 * `fn init [dir]`: scaffolds a jetfn project (package.json, tsconfig.json, fn.config.ts,
 * functions/hello.ts, .gitignore). Into an existing directory it adds only what is missing: a file
 * that exists is left alone unless `force` is set, package.json gains only the fields it lacks,
 * and .gitignore only the lines it lacks. The result says what was done to each file.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { GITIGNORE_LINES, packageFields, packageName, templateFiles } from './project-template.ts'

/** Options of {@link initProject}. */
export interface InitOptions {
  /** The project directory; created if missing. */
  dir: string
  /** Overwrite files that exist (package.json: replace the fields jetfn sets, keep the rest). Default: false. */
  force?: boolean
}

/** What {@link initProject} did, by path relative to the project. */
export interface InitResult {
  /** Absolute path of the project. */
  dir: string
  /** Files written that did not exist. */
  created: string[]
  /** Existing files that gained what they lacked, or were rewritten with `force`. */
  updated: Array<{ path: string; what: string }>
  /** Existing files left as they were. */
  skipped: Array<{ path: string; why: string }>
}

type PackageJson = Record<string, unknown> & {
  scripts?: Record<string, string>
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

/**
 * Writes the scaffold into `opts.dir`.
 *
 * @throws {FnError} `FN_INIT_FAILED` when the path is not a directory, package.json is not a JSON
 *   object, or a file cannot be written.
 */
export async function initProject(opts: InitOptions): Promise<InitResult> {
  const dir = resolve(opts.dir)
  const force = opts.force ?? false
  const result: InitResult = { dir, created: [], updated: [], skipped: [] }
  try {
    await mkdir(dir, { recursive: true })
  } catch (err) {
    throw failed(`cannot create ${dir}: ${(err as Error).message}`, err)
  }
  await initPackageJson(dir, force, result)
  for (const file of templateFiles()) {
    const path = join(dir, file.path)
    const existing = await readIfExists(path)
    if (existing !== undefined && existing === file.contents) {
      result.skipped.push({ path: file.path, why: 'already as jetfn writes it' })
    } else if (existing !== undefined && !force) {
      result.skipped.push({ path: file.path, why: 'exists; --force overwrites it' })
    } else {
      await write(path, file.contents)
      if (existing === undefined) result.created.push(file.path)
      else result.updated.push({ path: file.path, what: 'overwritten (--force)' })
    }
  }
  await initGitignore(dir, result)
  return result
}

async function initPackageJson(dir: string, force: boolean, result: InitResult): Promise<void> {
  const path = join(dir, 'package.json')
  const text = await readIfExists(path)
  const fields = packageFields()
  if (text === undefined) {
    const pkg = { name: packageName(basename(dir)), version: '0.1.0', private: true, ...fields }
    await write(path, `${JSON.stringify(pkg, null, 2)}\n`)
    result.created.push('package.json')
    return
  }
  let pkg: PackageJson
  try {
    pkg = JSON.parse(text) as PackageJson
  } catch (err) {
    throw failed(`${path} is not valid JSON: ${(err as Error).message}`, err)
  }
  if (typeof pkg !== 'object' || pkg === null || Array.isArray(pkg)) throw failed(`${path} does not hold a JSON object`)
  const added: string[] = []
  const kept: string[] = []
  if (pkg.type === undefined || (force && pkg.type !== fields.type)) {
    pkg.type = fields.type
    added.push('type')
  } else if (pkg.type !== fields.type) {
    kept.push(`type is '${String(pkg.type)}', jetfn's scaffold expects 'module'`)
  }
  // A package is there if any dependency section names it (`npm install typescript` puts it in
  // dependencies; it is not added again under devDependencies).
  const declared = (name: string): boolean => [pkg.dependencies, pkg.devDependencies, pkg.peerDependencies].some((d) => typeof d === 'object' && d !== null && name in d)
  for (const section of ['scripts', 'dependencies', 'devDependencies'] as const) {
    const have = (pkg[section] ??= {})
    for (const [key, value] of Object.entries(fields[section])) {
      const present = section === 'scripts' ? have[key] !== undefined : declared(key)
      if (!present || (force && have[key] !== value && section === 'scripts')) {
        have[key] = value
        added.push(`${section}.${key}`)
      } else if (section === 'scripts' && have[key] !== value) {
        kept.push(`${section}.${key}`)
      }
    }
  }
  if (added.length > 0) {
    await write(path, `${JSON.stringify(pkg, null, 2)}\n`)
    result.updated.push({ path: 'package.json', what: `added ${added.join(', ')}` })
  }
  if (kept.length > 0) result.skipped.push({ path: 'package.json', why: `kept ${kept.join('; ')} (--force sets them)` })
  if (added.length === 0 && kept.length === 0) result.skipped.push({ path: 'package.json', why: 'has everything jetfn needs' })
}

async function initGitignore(dir: string, result: InitResult): Promise<void> {
  const path = join(dir, '.gitignore')
  const text = await readIfExists(path)
  if (text === undefined) {
    await write(path, `${GITIGNORE_LINES.join('\n')}\n`)
    result.created.push('.gitignore')
    return
  }
  const have = new Set(text.split(/\r?\n/).map((l) => l.trim()))
  const missing = GITIGNORE_LINES.filter((l) => !have.has(l) && !have.has(l.replace(/\/$/, '')) && !have.has(`/${l}`))
  if (missing.length === 0) {
    result.skipped.push({ path: '.gitignore', why: 'already ignores node_modules/ and .fn/' })
    return
  }
  await write(path, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${missing.join('\n')}\n`)
  result.updated.push({ path: '.gitignore', what: `added ${missing.join(', ')}` })
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    if (!(await stat(path)).isFile()) throw failed(`${path} exists and is not a file`)
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if (err instanceof FnError) throw err
    throw failed(`cannot read ${path}: ${(err as Error).message}`, err)
  }
}

async function write(path: string, contents: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, contents)
  } catch (err) {
    throw failed(`cannot write ${path}: ${(err as Error).message}`, err)
  }
}

function failed(message: string, cause?: unknown): FnError {
  return new FnError(FnErrorCode.InitFailed, message, cause === undefined ? {} : { cause })
}
