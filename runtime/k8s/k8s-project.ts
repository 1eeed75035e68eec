/**
 * What `fn k8s` reads from the project: package.json and its lockfile (the image is built from
 * them), the config's source files, and each function's name, stream and concurrency (built from
 * `functions/` as `fn deploy` builds them, so the triggers match what will be deployed).
 */
import { readFile, stat } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { ResolvedConfig } from '../config/config-schema.ts'
import { buildFunctionFile } from '../deploy/load-function.ts'
import { listFunctionFiles } from '../dev/function-files.ts'
import { FnError, FnErrorCode, isFnError } from '../errors/fn-error.ts'
import { connectNats } from '../nats/connect.ts'
import { consumerName } from '../nats/ensure-consumer.ts'
import { findStream, ownStreamOf, subjectWithin } from '../nats/find-stream.ts'
import type { K8sFunction } from './k8s-spec.ts'

/** The parts of package.json the image depends on. */
export interface ProjectPackage {
  name: string | undefined
  version: string | undefined
}

function k8sFailed(message: string, hint?: string, cause?: unknown): FnError {
  return new FnError(FnErrorCode.K8sFailed, message, { hint, cause })
}

/**
 * Reads package.json and checks what `npm ci --omit=dev` in the image needs: a lockfile, and
 * jetfn among the runtime dependencies (the image runs `node_modules/jetfn/bin/fn.js`).
 *
 * @throws {FnError} `FN_K8S_FAILED` naming the file and what is missing.
 */
export async function readProjectPackage(cwd: string): Promise<ProjectPackage> {
  let pkg: { name?: unknown; version?: unknown; dependencies?: Record<string, unknown>; devDependencies?: Record<string, unknown> }
  try {
    pkg = JSON.parse(await readFile(join(cwd, 'package.json'), 'utf8')) as typeof pkg
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT'
    throw k8sFailed(
      missing ? `package.json not found in ${cwd}: the image is built from the project's package.json and package-lock.json` : `package.json: ${(err as Error).message}`,
      missing ? 'run fn k8s in the project directory (`fn init` makes one)' : undefined,
      err,
    )
  }
  if (typeof pkg.dependencies?.jetfn !== 'string') {
    const inDev = typeof pkg.devDependencies?.jetfn === 'string'
    throw k8sFailed(
      `package.json: 'jetfn' must be in "dependencies"${inDev ? ' (it is in "devDependencies")' : ''}: the image installs them with npm ci --omit=dev and runs node_modules/jetfn/bin/fn.js`,
      'npm install jetfn',
    )
  }
  if (!(await isFile(join(cwd, 'package-lock.json')))) {
    throw k8sFailed(`package-lock.json not found in ${cwd}: the image installs with npm ci, which needs it`, 'run npm install and commit package-lock.json')
  }
  return {
    name: typeof pkg.name === 'string' ? pkg.name : undefined,
    version: typeof pkg.version === 'string' ? pkg.version : undefined,
  }
}

/** A Kubernetes name from an npm package name (`@acme/Orders` → `acme-orders`), else from the directory. */
export function appName(pkgName: string | undefined, cwd: string): string {
  const clean = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .slice(0, 63)
      .replace(/^-+|-+$/g, '')
  return clean(pkgName ?? '') || clean(basename(resolve(cwd))) || 'jetfn-app'
}

/**
 * Every function of `functions/`, sorted by name, with its stream: from `fn.config.ts`, else
 * (connecting only then) from the server.
 *
 * @throws {FnError} the build or validation error of a function file (as `fn deploy` reports it);
 *   `FN_STREAM_NOT_FOUND` when a subject is in no configured stream and the server is not reachable
 *   or has none.
 */
export async function readProjectFunctions(config: ResolvedConfig, cwd: string): Promise<K8sFunction[]> {
  const files = await listFunctionFiles(resolve(cwd, config.functionsDir))
  const built = []
  // One at a time: each build inspects its bundle in a thread; a project has a handful.
  for (const file of files) built.push(await buildFunctionFile(file, { config, home: join(cwd, '.fn'), cwd }))
  const seen = new Map<string, string>()
  for (const b of built) {
    const other = seen.get(b.options.name)
    if (other) throw new FnError(FnErrorCode.FunctionInvalid, `${b.file}: function name '${b.options.name}' is also used by ${other}`)
    seen.set(b.options.name, b.file)
  }
  let nc: NatsConnection | undefined
  try {
    const functions: K8sFunction[] = []
    for (const b of built) {
      const subject = b.options.subject
      // A `schedule` function's ticks (and so its lag) are in jetfn's own FN_SCHEDULES.
      let stream = ownStreamOf(subject) ?? config.streams.find((s) => s.subjects.some((p) => subjectWithin(subject, p)))?.name
      if (stream === undefined) {
        try {
          nc ??= await connectNats(config.nats, { name: 'jetfn k8s' })
        } catch (err) {
          if (!isFnError(err, FnErrorCode.NatsUnavailable)) throw err
          throw new FnError(FnErrorCode.StreamNotFound, `${b.file}: subject '${subject}' is in no stream of fn.config.ts, and NATS could not be reached to find its stream: ${err.message}`, {
            cause: err,
            hint: 'list the stream in fn.config.ts `streams`, or set NATS_URL to a server that has it',
          })
        }
        stream = await findStream(subject, config.streams, await jetstreamManager(nc), b.file)
      }
      functions.push({ name: b.options.name, stream, consumer: consumerName(b.options.name), concurrency: b.options.concurrency })
    }
    return functions.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  } finally {
    await nc?.close()
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}
