/**
 * The schema of `fn.config.ts` and its resolution into {@link ResolvedConfig}: defaults filled,
 * durations in milliseconds (`…Ms`), `NATS_URL` applied, the whole value deep-frozen.
 */
import { availableParallelism } from 'node:os'
import { z } from 'zod'
import type { ConfigDefinition } from '../define.ts'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { MAX_TIMER_MS, natsSubject, retryFieldSchemas, tuningFieldSchemas } from './field-schemas.ts'
import { durationMs, formatDuration } from './duration.ts'
import { formatIssues, issueMessage, quoteValue } from './format-issues.ts'
import { STREAM_FIELDS } from '../nats/plan-stream-update.ts'
import { redactUrlsIn } from '../nats/server-url.ts'
import { DEFAULT_POOL_ENV, ENV_PATTERN } from '../pool/worker-env.ts'
import { resolveNatsEnvironment, type NATS_ENV, type ResolvedNats } from './nats-environment.ts'

/** Servers used when neither `NATS_URL` nor `nats.servers` names one. */
export const DEFAULT_NATS_SERVERS = ['nats://127.0.0.1:4222'] as const
/** Subjects of dead letters are `<prefix>.<function>`. */
export const DLQ_SUBJECT_PREFIX = 'fn.dlq'
/** Port of `/healthz`, `/readyz`, `/metrics` in `fn start` when `http.port` is not set. */
export const DEFAULT_HTTP_PORT = 8787


/** `'a, b'` → `['a', 'b']`; commas are accepted in config strings as they are in `NATS_URL`. */
function splitServers(list: string): string[] {
  return list.split(',').map((s) => s.trim()).filter((s) => s !== '')
}

const nonEmpty = () => z.string().min(1)

function addIssue(ctx: { addIssue(issue: z.core.$ZodRawIssue): void }, path: PropertyKey[], message: string): void {
  ctx.addIssue({ code: 'custom', input: undefined, path, message })
}

// Stream names become file names and subject tokens of the JetStream API.
const streamName = () =>
  z.string().superRefine((name, ctx) => {
    const reason =
      name === '' ? 'must not be empty'
      : /[\s.*>/\\]/.test(name) ? "must not contain whitespace, '.', '*', '>', '/' or '\\'"
      : name.length > 255 ? 'must be at most 255 characters'
      : undefined
    if (reason !== undefined) addIssue(ctx, [], `${reason} (got ${quoteValue(name)})`)
  })

/** A value quoted in an error, with any password or token in a URL replaced by `***`. */
function withoutUserinfo(value: unknown): unknown {
  if (typeof value === 'string') return redactUrlsIn(value)
  if (Array.isArray(value)) return value.map(withoutUserinfo)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutUserinfo(v)]))
}

const serversSchema = z
  .union([z.string(), z.array(z.string())], {
    error: (iss) => `must be a server URL or a list of them (got ${quoteValue(withoutUserinfo(iss.input))})`,
  })
  .transform((value, ctx) => {
    const servers = (Array.isArray(value) ? value : [value]).flatMap(splitServers)
    if (servers.length === 0) {
      ctx.issues.push({ code: 'custom', input: value, message: `must name at least one server (got ${quoteValue(withoutUserinfo(value))})` })
    }
    return servers
  })

const AUTH_METHODS = ['token', 'user', 'nkeySeed', 'nkeySeedFile', 'credsFile'] as const

const natsSchema = z
  .strictObject({
    servers: serversSchema.optional(),
    token: nonEmpty().optional(),
    user: nonEmpty().optional(),
    pass: nonEmpty().optional(),
    nkeySeed: nonEmpty().optional(),
    nkeySeedFile: nonEmpty().optional(),
    credsFile: nonEmpty().optional(),
    tls: z
      .strictObject({ caFile: nonEmpty().optional(), certFile: nonEmpty().optional(), keyFile: nonEmpty().optional() })
      .optional(),
    name: nonEmpty().default('jetfn'),
  })
  .superRefine((n, ctx) => {
    if (n.user !== undefined && n.pass === undefined) addIssue(ctx, ['pass'], "is required when 'nats.user' is set")
    if (n.pass !== undefined && n.user === undefined) addIssue(ctx, ['user'], "is required when 'nats.pass' is set")
    const methods = AUTH_METHODS.filter((m) => n[m] !== undefined)
    for (const extra of methods.slice(1)) {
      addIssue(ctx, [extra], `cannot be combined with 'nats.${methods[0]}': use one way to authenticate`)
    }
    if ((n.tls?.certFile === undefined) !== (n.tls?.keyFile === undefined)) {
      const missing = n.tls?.certFile === undefined ? 'certFile' : 'keyFile'
      const other = missing === 'certFile' ? 'keyFile' : 'certFile'
      addIssue(ctx, ['tls', missing], `is required when 'nats.tls.${other}' is set`)
    }
  })
  .transform(({ servers, ...rest }) => ({
    ...rest,
    servers: servers ?? [...DEFAULT_NATS_SERVERS],
    serversSource: (servers === undefined ? 'default' : 'config') as 'config' | 'default',
  }))

// Stream fields have no zod defaults: which of them the file wrote decides what is applied to a
// stream that exists (see planStreamUpdate), so the defaults are filled in the transform.
const STREAM_DEFAULTS = { storage: 'file', replicas: 1, maxAge: 0, duplicateWindow: 120_000 } as const

const streamSchema = z
  .strictObject({
    name: streamName(),
    subjects: z.array(natsSubject()).min(1),
    storage: z.enum(['file', 'memory']).optional(),
    replicas: z.number().int().min(1).max(5).optional(),
    maxAge: durationMs().optional(),
    duplicateWindow: durationMs({ min: 0, exclusive: true }).optional(),
  })
  .superRefine((s, ctx) => {
    // JetStream refuses a duplicate window longer than the stream keeps messages.
    const maxAge = s.maxAge ?? STREAM_DEFAULTS.maxAge
    const duplicateWindow = s.duplicateWindow ?? STREAM_DEFAULTS.duplicateWindow
    if (maxAge > 0 && duplicateWindow > maxAge) {
      const got = `'${formatDuration(duplicateWindow)}' with maxAge '${formatDuration(maxAge)}'`
      addIssue(ctx, ['duplicateWindow'], `must not be longer than maxAge (got ${got})`)
    }
  })
  .transform(({ name, subjects, ...set }) => ({
    name,
    subjects,
    storage: set.storage ?? STREAM_DEFAULTS.storage,
    replicas: set.replicas ?? STREAM_DEFAULTS.replicas,
    maxAgeMs: set.maxAge ?? STREAM_DEFAULTS.maxAge,
    duplicateWindowMs: set.duplicateWindow ?? STREAM_DEFAULTS.duplicateWindow,
    /** The fields the file wrote: only these are applied to a stream that exists. */
    written: ['subjects' as const, ...STREAM_FIELDS.filter((f) => f !== 'subjects' && set[f] !== undefined)],
  }))

/** True when some subject matches both filters (`orders.>` and `*.created` do). */
export function subjectsOverlap(a: string, b: string): boolean {
  const ta = a.split('.')
  const tb = b.split('.')
  for (let i = 0; ; i++) {
    const x = ta[i]
    const y = tb[i]
    if (x === undefined || y === undefined) return x === y
    if (x === '>' || y === '>') return true
    if (x !== '*' && y !== '*' && x !== y) return false
  }
}

const defaultsSchema = z
  .strictObject({
    concurrency: tuningFieldSchemas.concurrency.default(8),
    timeout: tuningFieldSchemas.timeout.prefault('30s'),
    timeoutGrace: tuningFieldSchemas.timeoutGrace.prefault('1s'),
    ackWait: tuningFieldSchemas.ackWait.prefault('30s'),
    retry: z
      .strictObject({
        maxDeliver: retryFieldSchemas.maxDeliver.default(5),
        backoff: retryFieldSchemas.backoff.prefault(['1s', '10s', '1m']),
        jitter: retryFieldSchemas.jitter.default(0.2),
      })
      .prefault({})
      .transform(({ backoff, ...rest }) => ({ ...rest, backoffMs: backoff })),
  })
  .transform(({ timeout, timeoutGrace, ackWait, ...rest }) => ({
    ...rest,
    timeoutMs: timeout,
    timeoutGraceMs: timeoutGrace,
    ackWaitMs: ackWait,
  }))

/** The schema of `fn.config.ts`'s default export. Every field is optional. */
export const fnConfigSchema = z
  .strictObject({
    nats: natsSchema.prefault({}),
    streams: z.array(streamSchema).default([]),
    defaults: defaultsSchema.prefault({}),
    pool: z
      .strictObject({
        threads: z.number().int().min(1).max(1024).default(() => availableParallelism()),
        maxOldGenerationSizeMb: z.number().int().min(32).default(512),
        env: z
          .array(
            z.string().refine((p) => ENV_PATTERN.test(p), {
              error: (iss) => `must be a variable name or a pattern with '*' such as 'APP_*' (got ${quoteValue(iss.input)})`,
            }),
          )
          .default(() => [...DEFAULT_POOL_ENV]),
      })
      .prefault({}),
    dlq: z
      .strictObject({ stream: streamName().default('FN_DLQ') })
      .prefault({})
      .transform((d) => ({ ...d, subjectPrefix: DLQ_SUBJECT_PREFIX as typeof DLQ_SUBJECT_PREFIX })),
    // `portSource` tells `fn dev`, which serves HTTP only when the file asks for it, a port written
    // in the file from the default that `fn start` uses.
    http: z
      .strictObject({
        port: z.number().int().min(0).max(65_535).optional(),
        // A bearer token: at least 16 characters, so that a guessable word is refused.
        token: z.string().min(16).optional(),
      })
      .prefault({})
      .transform(({ port, token }) => ({ port: port ?? DEFAULT_HTTP_PORT, portSource: port === undefined ? ('default' as const) : ('config' as const), ...(token === undefined ? {} : { token }) })),
    otel: z
      .strictObject({
        endpoint: z
          .string()
          .refine((u) => /^https?:\/\/[^\s/]+/.test(u), { error: (iss) => `must be an http:// or https:// URL (got ${quoteValue(withoutUserinfo(iss.input))})` })
          .optional(),
        serviceName: nonEmpty().optional(),
        exportDelay: durationMs({ min: 1, max: MAX_TIMER_MS }).prefault('1s'),
      })
      .prefault({})
      .transform(({ exportDelay, ...rest }) => ({ ...rest, exportDelayMs: exportDelay })),
    jetfn: z.strictObject({ replicas: z.number().int().min(1).max(5).optional() }).prefault({}),
    // `fn start --bind-only` sets it to false too; see ConfigDefinition.provision.
    provision: z.boolean().default(true),
    auth: z.strictObject({ outputs: z.array(natsSubject()).default([]) }).prefault({}),
    shutdownGrace: durationMs({ max: MAX_TIMER_MS }).prefault('30s'),
    functionsDir: nonEmpty().default('functions'),
  })
  .superRefine((c, ctx) => {
    // JetStream refuses two streams with the same name or with overlapping subjects; the DLQ
    // stream, created by the runtime on `fn.dlq.>`, counts as one of them.
    const dlqSubject = `${DLQ_SUBJECT_PREFIX}.>`
    const owners: { path: (string | number)[]; subject: string }[] = []
    c.streams.forEach((s, i) => {
      const first = c.streams.findIndex((t) => t.name === s.name)
      const got = `(got ${quoteValue(s.name)})`
      if (first !== i) addIssue(ctx, ['streams', i, 'name'], `duplicates 'streams[${first}].name' ${got}`)
      if (s.name === c.dlq.stream) addIssue(ctx, ['streams', i, 'name'], `is the dead-letter stream 'dlq.stream' ${got}`)
      s.subjects.forEach((subject, j) => {
        const path = ['streams', i, 'subjects', j]
        const clash = owners.find((o) => o.path[1] !== i && subjectsOverlap(o.subject, subject))
        if (clash !== undefined) {
          const where = `streams[${clash.path[1]}].subjects[${clash.path[3]}]`
          addIssue(ctx, path, `overlaps '${where}' (${quoteValue(clash.subject)}) (got ${quoteValue(subject)})`)
        } else if (subjectsOverlap(dlqSubject, subject)) {
          addIssue(ctx, path, `overlaps the dead-letter subjects '${dlqSubject}' (got ${quoteValue(subject)})`)
        }
        owners.push({ path, subject })
      })
    })
  })
  .transform(({ shutdownGrace, ...rest }) => ({ ...rest, shutdownGraceMs: shutdownGrace }))

/** What a user may write in `fn.config.ts`. */
export type FnConfigInput = z.input<typeof fnConfigSchema>

/**
 * `fn.config.ts` resolved: every default filled, durations in milliseconds, `nats` with the
 * environment applied and no credentials left in server URLs. Deep-frozen at run time.
 */
export type ResolvedConfig = Omit<z.output<typeof fnConfigSchema>, 'nats'> & { nats: ResolvedNats }

// The documented `ConfigDefinition` (what `defineConfig` accepts) and the schema must not drift.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Assert<T extends true> = T
export type _ConfigDefinitionMatchesSchema = Assert<Equal<ConfigDefinition, FnConfigInput>>

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

/**
 * Validates and resolves the default export of `fn.config.ts`.
 *
 * @param input the default export (`{}` for an absent file).
 * @param opts.file the file as shown to the user; starts every error line.
 * @param opts.env environment: `NATS_URL` (comma-separated) replaces `nats.servers`, and the
 *   other `NATS_*` variables of {@link NATS_ENV} the credentials and TLS files. Default: `process.env`.
 * @throws FnError `FN_CONFIG_INVALID`, one line per problem:
 *   `fn.config.ts: 'defaults.retry.maxDeliver' must be at least 1 (got 0)`.
 */
export function resolveConfig(input: unknown, opts: { file: string; env?: NodeJS.ProcessEnv }): ResolvedConfig {
  const result = fnConfigSchema.safeParse(input, { error: issueMessage })
  if (!result.success) {
    throw new FnError(FnErrorCode.ConfigInvalid, formatIssues(result.error.issues, { file: opts.file }), {
      cause: result.error,
    })
  }
  const nats = resolveNatsEnvironment(result.data.nats, { file: opts.file, env: opts.env ?? process.env })
  return deepFreeze({ ...result.data, nats })
}
