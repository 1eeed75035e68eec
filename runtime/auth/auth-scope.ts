/**
 * The project as `fn auth` needs it: every function file built and validated as `fn deploy`
 * builds it, each function's stream found as `fn deploy` finds it (the streams of
 * `fn.config.ts` first, then the server), and the subjects of every stream involved.
 * The server is asked only when a function's subject is in no configured stream.
 */
import { availableParallelism } from 'node:os'
import type { JetStreamManager } from '@nats-io/jetstream'
import type { ResolvedConfig } from '../config/config-schema.ts'
import { buildFunctionFile, type BuiltFunction } from '../deploy/load-function.ts'
import { mapLimit } from '../deploy/map-limit.ts'
import { FnError, FnErrorCode, isFnError } from '../errors/fn-error.ts'
import { findStream, ownStreamOf, subjectWithin } from '../nats/find-stream.ts'
import type { AuthScope } from './role-permissions.ts'

/** Options of {@link authScope}. */
export interface AuthScopeOptions {
  config: ResolvedConfig
  /** Function files (all of `functionsDir`). */
  files: readonly string[]
  /** The `.fn` directory (bundle cache). */
  home: string
  cwd?: string
  /** Connects when a function's stream must be looked up on the server; called at most once. */
  jsm: () => Promise<JetStreamManager>
}

/**
 * @throws FnError the build or validation errors of every failing file (as `fn deploy` reports
 *   them), or `FN_STREAM_NOT_FOUND` for a subject in no stream.
 */
export async function authScope(opts: AuthScopeOptions): Promise<AuthScope> {
  const built = await mapLimit(opts.files, availableParallelism(), async (file): Promise<BuiltFunction | FnError> => {
    try {
      return await buildFunctionFile(file, { config: opts.config, home: opts.home, ...(opts.cwd ? { cwd: opts.cwd } : {}) })
    } catch (err) {
      return isFnError(err) ? err : new FnError(FnErrorCode.Internal, `${file}: ${(err as Error).message}`, { cause: err })
    }
  })
  const failures = built.filter((b): b is FnError => b instanceof FnError)
  if (failures.length > 0) {
    throw new FnError(failures[0]!.code, failures.map((f) => f.message).join('\n'), { cause: failures[0], hint: 'fn auth builds every function as fn deploy does' })
  }
  const streams = new Map<string, { name: string; subjects: readonly string[]; configured: boolean }>()
  for (const st of opts.config.streams) streams.set(st.name, { name: st.name, subjects: st.subjects, configured: true })
  let jsm: Promise<JetStreamManager> | undefined
  const functions: AuthScope['functions'][number][] = []
  const files = new Map<string, string>()
  for (const b of built as BuiltFunction[]) {
    const { name, subject } = b.options
    const other = files.get(name)
    if (other) throw new FnError(FnErrorCode.FunctionInvalid, `${b.file}: function name '${name}' is also used by ${other}`)
    files.set(name, b.file)
    const local = opts.config.streams.find((st) => st.subjects.some((p) => subjectWithin(subject, p)))
    // A `schedule` function's ticks are in jetfn's own FN_SCHEDULES, whose grants are their own.
    let stream = ownStreamOf(subject) ?? local?.name
    if (stream === undefined) {
      jsm ??= opts.jsm()
      const m = await jsm
      stream = await findStream(subject, opts.config.streams, m, b.file)
      if (!streams.has(stream)) streams.set(stream, { name: stream, subjects: (await m.streams.info(stream)).config.subjects ?? [], configured: false })
    }
    functions.push({ name, subject, stream, rateLimited: b.options.rateLimit !== undefined, keyed: b.options.keyed !== undefined, scheduled: b.options.schedule !== undefined, debounced: b.options.debounce !== undefined })
  }
  functions.sort((a, b) => a.name.localeCompare(b.name))
  return { functions, streams: [...streams.values()], dlqStream: opts.config.dlq.stream, outputs: opts.config.auth.outputs }
}
