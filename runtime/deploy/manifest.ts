/**
 * The manifest of a deployed function, as stored in KV bucket `FN_FUNCTIONS` under the function's
 * name. Other tools read it: its field names are part of the contract.
 */
import { z } from 'zod'
import type { ResolvedFunctionOptions } from '../function/function-options.ts'

/** KV bucket of manifests; key = function name. */
export const FUNCTIONS_BUCKET = 'FN_FUNCTIONS'
/** Object Store bucket of bundles; object name = bundle sha256 (the version). */
export const BUNDLES_BUCKET = 'FN_BUNDLES'
/** Manifest revisions kept per function, for `fn rollback`. */
export const MANIFEST_HISTORY = 16

export interface FunctionManifest {
  name: string
  /** sha256 of the bundle, hex. */
  version: string
  subject: string
  stream: string
  /** Resolved options (durations in ms). */
  options: ResolvedFunctionOptions
  bundle: { bucket: string; object: string; size: number }
  /** ISO time of the deploy (or rollback). */
  deployedAt: string
  deployedBy: { user: string; host: string }
  /** The source file, relative to the project, as the deployer saw it. */
  file?: string | undefined
  /** Set by `fn rollback`: the version that was replaced. */
  rolledBackFrom?: string | undefined
  /** Replays in progress (`fn replay`): each runs on its own consumer beside `fn_<name>`. */
  replays?: ReplayRun[] | undefined
}

/**
 * A replay of a function's stream from a point (`fn replay`): the messages from `fromSeq` through
 * `throughSeq` that match the function's subject run again, on the version deployed, through the
 * durable consumer `consumer`. Its outputs and dead letters carry `r<id>` in their ids, so they are
 * new messages, not duplicates of the first run's.
 */
export interface ReplayRun {
  /** Short unique id (base 36), in the consumer name and in output and dead-letter ids. */
  id: string
  /** `fn_<name>_replay`: one replay at a time per function. */
  consumer: string
  /** The point asked for: a stream sequence, or an ISO time (the first message stored at or after it). */
  from: { seq: number } | { time: string }
  /** Last stream sequence replayed: what the stream held when the replay began. */
  throughSeq: number
  /** Messages to re-run, as counted when the replay began. */
  count: number
  startedAt: string
  startedBy: { user: string; host: string }
}

const optionsSchema = z.object({
  name: z.string(),
  subject: z.string(),
  decode: z.enum(['json', 'binary']),
  hasSchema: z.boolean(),
  concurrency: z.number().int().positive(),
  timeoutMs: z.number().positive(),
  timeoutGraceMs: z.number().nonnegative(),
  ackWaitMs: z.number().positive(),
  // Manifests written before startFrom existed start new consumers at new messages.
  startFrom: z.union([z.literal('new'), z.literal('all'), z.object({ seq: z.number().int().positive() }), z.object({ time: z.string() })]).default('new'),
  rateLimit: z.object({ limit: z.number().int().positive(), perMs: z.number().positive(), burst: z.number().int().positive() }).optional(),
  maxInFlight: z.number().int().positive().optional(),
  keyed: z
    .object({
      key: z.union([z.object({ wildcard: z.number().int().positive(), token: z.number().int().nonnegative() }), z.object({ header: z.string() }), z.object({ function: z.literal(true) })]),
      limit: z.number().int().positive(),
      ordered: z.boolean(),
      rate: z.object({ limit: z.number().int().positive(), perMs: z.number().positive(), burst: z.number().int().positive() }).optional(),
    })
    .optional(),
  schedule: z.union([z.object({ cron: z.string(), tz: z.string().optional() }), z.object({ everyMs: z.number().positive() })]).optional(),
  debounce: z
    .object({
      key: z.union([z.object({ wildcard: z.number().int().positive(), token: z.number().int().nonnegative() }), z.object({ header: z.string() }), z.object({ function: z.literal(true) })]),
      periodMs: z.number().positive(),
    })
    .optional(),
  retry: z.object({ maxDeliver: z.number().int().positive(), backoffMs: z.array(z.number().nonnegative()), jitter: z.number().min(0).max(1) }),
})

const manifestSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/),
  version: z.string().regex(/^[0-9a-f]{64}$/),
  subject: z.string(),
  stream: z.string(),
  options: optionsSchema,
  bundle: z.object({ bucket: z.string(), object: z.string(), size: z.number().int().nonnegative() }),
  deployedAt: z.string(),
  deployedBy: z.object({ user: z.string(), host: z.string() }),
  file: z.string().optional(),
  rolledBackFrom: z.string().optional(),
  replays: z
    .array(
      z.object({
        id: z.string().regex(/^[0-9a-z]+$/),
        consumer: z.string(),
        from: z.union([z.object({ seq: z.number().int().positive() }), z.object({ time: z.string() })]),
        throughSeq: z.number().int().positive(),
        count: z.number().int().nonnegative(),
        startedAt: z.string(),
        startedBy: z.object({ user: z.string(), host: z.string() }),
      }),
    )
    .optional(),
})

/** Parses a manifest read from KV; throws with the key and the first problem if it is not one. */
export function parseManifest(key: string, bytes: Uint8Array): FunctionManifest {
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes))
  } catch (err) {
    throw new Error(`manifest '${key}' is not JSON: ${(err as Error).message}`, { cause: err })
  }
  const parsed = manifestSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new Error(`manifest '${key}' is invalid: '${issue.path.join('.')}' ${issue.message}`)
  }
  return parsed.data
}

/** True when deploying `next` over `current` would change nothing a replica runs. */
export function sameDeployment(current: FunctionManifest | undefined, next: FunctionManifest): boolean {
  return (
    current !== undefined &&
    current.version === next.version &&
    current.subject === next.subject &&
    current.stream === next.stream &&
    JSON.stringify(current.options) === JSON.stringify(next.options)
  )
}
