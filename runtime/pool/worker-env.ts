/**
 * The environment handler code sees: `process.env` of the worker threads (and of the thread that
 * imports a bundle at deploy) holds only the variables `pool.env` allows, and never, through a
 * pattern, the replica's own NATS credentials. Node gives a worker a copy of the whole parent
 * environment unless told otherwise.
 *
 * This limits what handlers are handed; it is no sandbox. A handler runs in the replica's process
 * and can still read its files (a creds file, `fn.config.ts`) and `/proc/self/environ`.
 */
import type { ResolvedConfig } from '../config/config-schema.ts'
import { NATS_ENV } from '../config/nats-environment.ts'

/**
 * Variables handlers get when `pool.env` is not set: locale, time zone, `NODE_ENV`, and what
 * child processes and temp files need. None is a credential.
 */
export const DEFAULT_POOL_ENV: readonly string[] = Object.freeze(['NODE_ENV', 'TZ', 'LANG', 'LC_*', 'PATH', 'HOME', 'TMPDIR'])

/** A name (`DATABASE_URL`) or a pattern with `*` (`APP_*`, `*_URL`, `*`). */
export const ENV_PATTERN = /^[A-Za-z_*][A-Za-z0-9_*]*$/

/** What {@link workerEnv} decided. */
export interface WorkerEnv {
  /** The environment of the threads. */
  env: Record<string, string>
  /** Variables a pattern matched that were kept back as the replica's credentials (names only). */
  withheld: string[]
}

/** Secrets shorter than this are only matched whole: a 3-character password must not withhold every variable that contains it. */
const MIN_SUBSTRING_SECRET = 8

/**
 * The variables of `env` that `patterns` allow. A pattern never passes a variable of
 * {@link NATS_ENV} nor one whose value holds one of `secrets` (the replica's token, password,
 * seed); a pattern without `*` names its variable exactly and passes it whatever it holds.
 */
export function workerEnv(env: NodeJS.ProcessEnv, patterns: readonly string[], secrets: readonly (string | undefined)[]): WorkerEnv {
  const exact = new Set(patterns.filter((p) => !p.includes('*')))
  const globs = patterns.filter((p) => p.includes('*')).map(globToRegExp)
  const own = new Set<string>(Object.values(NATS_ENV))
  const known = secrets.filter((s): s is string => s !== undefined && s !== '')
  const holdsSecret = (value: string) => known.some((s) => value === s || (s.length >= MIN_SUBSTRING_SECRET && value.includes(s)))
  const out: Record<string, string> = {}
  const withheld: string[] = []
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue
    if (exact.has(name)) out[name] = value
    else if (globs.some((g) => g.test(name))) {
      if (own.has(name) || holdsSecret(value)) withheld.push(name)
      else out[name] = value
    }
  }
  return { env: out, withheld: withheld.sort() }
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
}

/** The environment of a replica's handler threads: `pool.env` applied to `env`, the replica's NATS secrets kept back. */
export function handlerEnv(config: { pool: Pick<ResolvedConfig['pool'], 'env'>; nats: Pick<ResolvedConfig['nats'], 'token' | 'pass' | 'nkeySeed'> }, env: NodeJS.ProcessEnv = process.env): WorkerEnv {
  return workerEnv(env, config.pool.env, [config.nats.token, config.nats.pass, config.nats.nkeySeed])
}
