/**
 * What handler files and `fn.config.ts` import: `defineFunction`, `defineConfig` and their types.
 * This module is bundled into every function bundle and into the compiled config, so it imports
 * nothing at runtime; validation happens in the runtime, which recognises definitions by a
 * `Symbol.for` brand that is the same in every bundle.
 */
import type { Logger } from 'pino'

/** Brand on values returned by {@link defineFunction}. */
export const FUNCTION_BRAND: unique symbol = Symbol.for('jetfn.function')
/** Brand on values returned by {@link defineConfig}. */
export const CONFIG_BRAND: unique symbol = Symbol.for('jetfn.config')

/**
 * A duration: a number of milliseconds, or a string of `<number><unit>` parts with units `d` `h`
 * `m` `s` `ms`, largest first: `'250ms'`, `'10s'`, `'1.5s'`, `'1m30s'`, `'7d'`.
 */
export type Duration = string | number

/** How a message's payload is turned into `event.data`. */
export type Decode = 'json' | 'binary'

/** A zod schema (3.x or 4.x) or any other Standard Schema validator. */
export type FnSchema =
  | { safeParse(input: unknown): unknown }
  | { readonly '~standard': { validate(value: unknown): unknown } }

/** The validated type a schema produces. */
export type InferSchemaOutput<S> = S extends { readonly '~standard': { readonly types?: infer T } }
  ? NonNullable<T> extends { readonly output: infer O } ? O : unknown
  : S extends { readonly _output: infer O } ? O : unknown

/** The type of `event.data` for a given schema and decode mode. */
export type EventData<S, D extends Decode> = D extends 'binary'
  ? Uint8Array
  : [S] extends [undefined] ? unknown : InferSchemaOutput<S>

/** How a failed message is retried. Unset fields come from `fn.config.ts` `defaults.retry`. */
export interface RetryOptions {
  /** Deliveries before the message is dead-lettered, first one included; an integer ≥ 1. Default: 5. */
  maxDeliver?: number
  /**
   * Delay before each redelivery: the n-th failure waits `backoff[n-1]`, the last entry repeating.
   * Not empty. Default: `['1s', '10s', '1m']`.
   */
  backoff?: Duration[]
  /** Random spread applied to each delay, as a fraction of it (0.2 = ±20%), 0 to 1. Default: 0.2. */
  jitter?: number
}

/** Tuning shared by functions and `fn.config.ts` `defaults`. */
export interface FunctionTuning {
  /**
   * Handlers of this function running at once in one replica; an integer 1 to 10000. Default: 8.
   * It bounds what runs, not how fast: a fast handler is not starved at 8, since the replica
   * prefetches about 10 ms of its work (at most 1,000 messages and 16 MiB) and hands it to the
   * threads in large batches whose handlers take turns on the slots.
   */
  concurrency?: number
  /** Time a handler may run before `ctx.signal` aborts and the try counts as failed; > 0. Default: '30s'. */
  timeout?: Duration
  /** Time after `timeout` before a handler that ignores `ctx.signal` has its thread terminated. Default: '1s'. */
  timeoutGrace?: Duration
  /**
   * The consumer's ack wait: how long the server waits for a sign of life before redelivering;
   * at least 1s. The runtime keeps healthy runs alive with `working()`, so this only bounds how long
   * a dead replica's messages stay hidden. Default: '30s'.
   */
  ackWait?: Duration
  /** Redelivery policy. Default: `{ maxDeliver: 5, backoff: ['1s', '10s', '1m'], jitter: 0.2 }`. */
  retry?: RetryOptions
}

/** One message, as a handler sees it. */
export interface FnEvent<T = unknown> {
  /** The payload: validated by `schema`, else parsed JSON, else the bytes (`decode: 'binary'`). */
  data: T
  /** The payload exactly as received. */
  raw: Uint8Array
  /** The subject the message was published to. */
  subject: string
  /** The message's headers; a header may repeat, hence the arrays. */
  headers: Record<string, string[]>
  /** The message's sequence number in its stream. */
  seq: number
  /** Which delivery this is, starting at 1. */
  deliveries: number
  /** When the message was stored in the stream. */
  time: Date
  /** The stream the message comes from. */
  stream: string
  /**
   * For a `schedule` function: the instant of this tick, to the second (when the server produced
   * it; after the server was down, the moment it came back). Unset for other messages.
   */
  scheduledAt?: Date
  /** For a `schedule` function: when the next tick is due, as the server computed it. */
  nextAt?: Date
}

/** Options of {@link FnContext.publish}. */
export interface PublishOptions {
  /** Headers to send with the message. */
  headers?: Record<string, string | string[]>
  /**
   * Deliver the message this long after the call (`'10m'`, or ms) instead of at once: it is kept
   * as an `@at` schedule in stream `FN_SCHEDULES` (nats-server 2.12 or newer) and published to
   * `subject` when due, with the same `Nats-Msg-Id` dedupe as other outputs. Not with `at`.
   * Default: none (published when the handler resolves).
   */
  delay?: Duration
  /** Deliver the message at this instant (a past one: at once), as for `delay`. Not with `delay`. Default: none. */
  at?: Date
}

/** What a handler gets besides the event. */
export interface FnContext {
  /** A pino logger bound to this function, version and message. */
  log: Logger
  /** Aborts when the handler times out or the replica shuts down; pass it to `fetch` and friends. */
  signal: AbortSignal
  /**
   * Queues a message for `subject`; `data` is sent as JSON, or as is when it is a `Uint8Array`.
   * Buffered: nothing goes out unless the handler resolves, and then everything is published
   * (deduplicated on redelivery) before the source message is acked.
   */
  publish(subject: string, data: unknown, opts?: PublishOptions): void
  /** The running function. */
  function: {
    /** The function's name. */
    name: string
    /** The deployed version (the bundle's hash). */
    version: string
  }
}

/** A rate limit across replicas: see {@link FunctionDefinition.rateLimit}. */
export interface RateLimit {
  /** Runs that may start per `per`; an integer ≥ 1. */
  limit: number
  /** The period, e.g. `'1s'`, `'1m'`. */
  per: Duration
  /** Runs that may start at once; an integer ≥ 1. Default: `ceil(limit / 10)`. */
  burst?: number
  /**
   * A limit per key instead of one for the whole function (written as for `key`). The function is
   * then run by one replica at a time, which keeps each key's rate; a replica that takes over
   * starts every key afresh (a key may get one more burst then). Must be the function's `key` or
   * `concurrency.key` when it has one. Default: none.
   */
  key?: KeySpec
}

/**
 * Which messages belong together: `{ wildcard: N }`, the N-th `*` token of the function's subject
 * (counted from 1, as NATS subject mappings count: for `orders.*.created`, `{ wildcard: 1 }` is the
 * customer); `{ header: 'Customer-Id' }`, that header's first value (name matched in any case); or a
 * function of the event returning a string or number, run in the handler threads. A message with
 * no value for its key (a missing header) has the empty key `''`: such messages are grouped
 * together. Keys longer than 256 characters are kept as a prefix plus a hash.
 */
export type KeySpec<T = unknown> = { wildcard: number } | { header: string } | ((event: FnEvent<T>) => string | number | null | undefined)

/** Concurrency written as an object: see {@link FunctionDefinition.concurrency}. */
export interface ConcurrencyOptions<T = unknown> {
  /** Messages in flight at once in one replica; 1 to 10000. Default: `defaults.concurrency` (8). */
  replica?: number
  /**
   * Messages in flight across every replica together: the consumer's `max_ack_pending` (a message
   * waiting for a retry counts until it is redelivered). Default: room for 16 replicas at full
   * concurrency, at least 1000.
   */
  total?: number
  /** Groups messages by key: at most `limit` of one key run at once, across every replica. */
  key?: KeySpec<T>
  /** Runs of one key at once, across every replica; needs `key`. Default: 1. */
  limit?: number
}

/**
 * When a function runs on its own: a cron spec with six fields, seconds first
 * (`'0 0 9 * * mon-fri'`, or `@hourly`, `@daily`, …) in an IANA time zone (`tz`, default UTC;
 * nats-server needs tzdata), or a fixed interval (`every`, at least `'1s'`). Needs nats-server 2.14.
 */
export type Schedule = { cron: string; tz?: string } | { every: Duration }

/**
 * Of a burst of messages with the same key, run once, `period` after the last, with the last.
 * Needs nats-server 2.12.
 */
export interface Debounce<T = unknown> {
  /** What groups messages: see {@link KeySpec}. */
  key: KeySpec<T>
  /** Quiet time after the last message of a key before the function runs; 1s to 1d. */
  period: Duration
}

/** Where a new consumer starts: see {@link FunctionDefinition.startFrom}. */
export type StartFrom = 'new' | 'all' | { seq: number } | { time: Date | string }

/** A function: its trigger, options and handler. Unset options come from `fn.config.ts` `defaults`. */
export interface FunctionDefinition<S extends FnSchema | undefined = undefined, D extends Decode = 'json'>
  extends Omit<FunctionTuning, 'concurrency'> {
  /**
   * How many messages run at once. A number: per replica (1 to 10000). An object: `replica` (per
   * replica), `total` (across every replica, the consumer's `max_ack_pending`), and `key` with
   * `limit` (at most `limit` runs of one key at once, across every replica, in any order). With a
   * key, one replica at a time runs the function (see `key`). Default: `defaults.concurrency` (8).
   */
  concurrency?: number | ConcurrencyOptions<EventData<S, D>>
  /**
   * Ordering per key: messages with the same key run one at a time, in stream order, across every
   * replica; different keys run in parallel up to `concurrency`. A failed message holds back the
   * later messages of its key until it succeeds or is dead-lettered. One replica at a time runs a
   * keyed function (the pinned client of its consumer, nats-server 2.11 or newer); the others stand
   * by and take over when it stops or dies, holding the keys of anything it left unsettled until
   * that settles. Default: none (messages are independent).
   */
  key?: KeySpec<EventData<S, D>>
  /** Name: letters, digits, `-`, `_`, at most 64 characters. Default: the file's name without extension. */
  name?: string
  /**
   * Filter subject the function consumes (`orders.created`, `orders.*`); must fall in a stream.
   * Required unless `schedule` is given (and then not allowed).
   */
  subject?: string
  /**
   * Run on a schedule instead of on messages: `{ cron: '0 0 9 * * mon-fri', tz: 'Europe/Berlin' }`
   * or `{ every: '5m' }`. The schedule lives in stream `FN_SCHEDULES`; the server fires it, so
   * each tick runs once however many replicas run. `event.scheduledAt` is the tick's instant and
   * `event.data` is `{ function, schedule, tz }`. A tick whose run fails is retried as any message
   * until the next tick replaces it; after downtime, the ticks missed run once, not once each.
   * `fn deploy` writes the schedule, a redeploy replaces it, `fn rm` removes it. Needs nats-server
   * 2.14. Default: none.
   */
  schedule?: Schedule
  /**
   * Of a burst of messages with the same key, run once, `period` after the last, with the last
   * message (subject, headers and payload as published). Default: every message runs.
   */
  debounce?: Debounce<EventData<S, D>>
  /** Validates `event.data`; a message that fails it is dead-lettered at once. Default: none. */
  schema?: S
  /** `'json'` parses the payload; `'binary'` hands over the bytes (no `schema` then). Default: 'json'. */
  decode?: D
  /**
   * Where the function's consumer starts when it is first created: `'new'` (only messages
   * published from then on: deploying onto a stream with history does not replay it), `'all'`
   * (everything the stream holds), `{ seq }` (from that stream sequence) or `{ time }` (from that
   * instant: a `Date` or an ISO string). Only a new consumer uses it; a redeploy keeps the
   * position. Default: 'new'.
   */
  startFrom?: StartFrom
  /**
   * At most `limit` runs start per `per` across every replica together, however many run (a
   * bucket in KV `FN_RATES`, shared with a compare-and-set). Messages over the limit wait in the
   * replica (kept alive, never dead-lettered for it) until their turn. `burst`: runs that may start
   * at once after a quiet spell; default a tenth of `limit`, at least 1. `per`: 100ms to 1d.
   * Default: no limit.
   */
  rateLimit?: RateLimit
  /**
   * Handles one message. Resolving acks it; throwing retries it (`RetryAfterError` picks the delay,
   * `NonRetryableError` dead-letters at once). The return value is ignored.
   */
  handler(event: FnEvent<EventData<S, D>>, ctx: FnContext): unknown
}

/** A value returned by {@link defineFunction}. */
export type DefinedFunction<S extends FnSchema | undefined = undefined, D extends Decode = 'json'> = Readonly<
  FunctionDefinition<S, D>
> & { readonly [FUNCTION_BRAND]: true }

/**
 * Declares a function; `export default` it from a file in `functions/`. Returns a frozen, branded
 * copy of `def` and never modifies `def`. Options are validated when the function is deployed.
 */
export function defineFunction<S extends FnSchema | undefined = undefined, D extends Decode = 'json'>(
  def: FunctionDefinition<S, D>,
): DefinedFunction<S, D> {
  return Object.freeze({ ...def, [FUNCTION_BRAND]: true as const })
}

/**
 * Connection to NATS. Set one way to authenticate: `token`, `user` + `pass`, `nkeySeed` or
 * `nkeySeedFile`, `credsFile`, or credentials in a server URL (`nats://user:pass@host:4222`,
 * `nats://token@host:4222`). Default: none.
 *
 * The environment wins over this file, with the variables the `nats` CLI reads: `NATS_URL`
 * (comma-separated) replaces `servers`; one of `NATS_TOKEN`, `NATS_USER` + `NATS_PASSWORD`,
 * `NATS_NKEY` (a seed file), `NATS_CREDS` (a creds file) or userinfo in `NATS_URL` replaces the way
 * to authenticate written here; `NATS_CA`, `NATS_CERT`, `NATS_KEY` replace `tls.caFile`,
 * `tls.certFile`, `tls.keyFile`. Credentials never appear in jetfn's logs, errors or output, and
 * handler threads never see these variables (see `pool.env`).
 */
export interface NatsConfig {
  /**
   * Server URL or URLs (`nats://host:4222`, `tls://host:4222`, comma-separated in one string
   * too). Credentials in a URL are taken out of it and used to authenticate. Default:
   * `nats://127.0.0.1:4222` (and `fn dev` starts its own server).
   */
  servers?: string | string[]
  /** Token authentication. Default: none. */
  token?: string
  /** User name; needs `pass`. Default: none. */
  user?: string
  /** Password; needs `user`. Default: none. */
  pass?: string
  /** NKey user seed (`SU…`) for NKey authentication; prefer `nkeySeedFile` to keep it out of the file. Default: none. */
  nkeySeed?: string
  /**
   * Path of a file holding an NKey user seed (`SU…`), as `nsc` and `nk -gen user` write it,
   * relative to the working directory; read at connect. Default: none.
   */
  nkeySeedFile?: string
  /** Path of a `.creds` file (user JWT + NKey seed, as `nsc generate creds` writes it), relative to the working directory; read at connect. Default: none. */
  credsFile?: string
  /**
   * TLS. Without it, TLS is still used, with the system's CAs, when the server requires it;
   * with it, TLS is required. Default: none.
   */
  tls?: {
    /** PEM file of the CA that signed the server's certificate. Default: the system's CAs. */
    caFile?: string
    /** PEM client certificate, for mutual TLS (`verify: true` on the server); needs `keyFile`. Default: none. */
    certFile?: string
    /** PEM private key of `certFile`. Default: none. */
    keyFile?: string
  }
  /** Connection name shown by the server. Default: `jetfn`. */
  name?: string
}

/**
 * A stream the runtime creates or updates at start-up. A missing stream is created with every
 * field (defaults included). One that exists gets only the fields written here; the rest stay as
 * the server has them. A change that loses data or safety (fewer replicas, a subject removed, a
 * smaller `maxAge`, another storage) is refused with `FN_STREAM_CONFLICT`, and nothing changes.
 */
export interface StreamConfig {
  /** Stream name (no spaces, `.`, `*`, `>`, `/`, `\`). */
  name: string
  /** Subjects the stream stores; functions' subjects must fall in one of them. Not empty. */
  subjects: string[]
  /** Where messages are stored. Default: 'file'. */
  storage?: 'file' | 'memory'
  /** Copies kept in a cluster; 1 to 5. Default: 1. */
  replicas?: number
  /** Age after which messages are removed; 0 keeps them. Default: 0. */
  maxAge?: Duration
  /** Window in which a repeated `Nats-Msg-Id` is dropped; at most `maxAge` when that is set. Default: '2m'. */
  duplicateWindow?: Duration
}

/** The contents of `fn.config.ts`. Every field is optional. */
export interface ConfigDefinition {
  /** NATS connection. */
  nats?: NatsConfig
  /** Streams to create or update. Default: none (functions' subjects must then be in streams on the server). */
  streams?: StreamConfig[]
  /** Options of every function that does not set them itself. */
  defaults?: FunctionTuning
  /** The worker-thread pool shared by all functions. */
  pool?: {
    /** Worker threads; an integer ≥ 1. Default: `os.availableParallelism()`. */
    threads?: number
    /** V8 old-space limit per worker thread, in MiB; an integer ≥ 32. Default: 512. */
    maxOldGenerationSizeMb?: number
    /**
     * Environment variables handlers see in `process.env`: names (`'DATABASE_URL'`) or patterns
     * with `*` (`'APP_*'`, `'*'` for all); the list replaces the default. Others are absent. A
     * pattern never passes the replica's NATS credentials: `NATS_URL`, `NATS_TOKEN`, `NATS_USER`,
     * `NATS_PASSWORD`, `NATS_NKEY`, `NATS_CREDS`, `NATS_CA`, `NATS_CERT`, `NATS_KEY`, nor any
     * variable holding the token, password or seed the replica connects with; only naming one
     * exactly passes it. Handlers still run in the replica's process, so they are as trusted as it
     * is (they can read its files): run code you trust differently in separate replicas with
     * separate credentials. Default: `['NODE_ENV', 'TZ', 'LANG', 'LC_*', 'PATH', 'HOME', 'TMPDIR']`.
     */
    env?: string[]
  }
  /** Dead letters. */
  dlq?: {
    /** Stream that receives dead letters, on subjects `fn.dlq.<function>`. Default: 'FN_DLQ'. */
    stream?: string
  }
  /** The `/healthz`, `/readyz`, `/metrics` server, and the dashboard at `/`. */
  http?: {
    /** TCP port; 0 disables the server. Default: 8787 in `fn start`; off in `fn dev` unless set here. */
    port?: number
    /**
     * Bearer token the dashboard's write actions (replay, purge, rollback, pause, resume) must
     * carry (`Authorization: Bearer <token>`); at least 16 characters. Without it, writes are
     * accepted only from 127.0.0.1 (the dashboard is read-only from any other address). Keep it
     * out of the file: `token: process.env.JETFN_HTTP_TOKEN`. Default: none.
     */
    token?: string
  }
  /**
   * Tracing: a span per attempt of every message, child of the W3C `traceparent` it carries,
   * exported over OTLP/HTTP. On when `endpoint` is set here or `OTEL_EXPORTER_OTLP_ENDPOINT`
   * (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; `OTEL_SDK_DISABLED=true` turns it off.
   */
  otel?: {
    /** Base URL of the OTLP/HTTP collector, e.g. 'http://127.0.0.1:4318'; spans go to `<endpoint>/v1/traces`. Default: none (off unless the variables say). */
    endpoint?: string
    /** `service.name` of the spans. Default: `OTEL_SERVICE_NAME`, else 'jetfn'. */
    serviceName?: string
    /** Longest a finished span waits to be exported with others. Default: '1s'. */
    exportDelay?: Duration
  }
  /** jetfn's own state: `FN_FUNCTIONS`, `FN_BUNDLES`, the DLQ stream and `FN_DLQ_PAYLOADS`. */
  jetfn?: {
    /**
     * Replicas of jetfn's own streams when they are created; 1 to 5. A stream that exists with
     * fewer is raised to this, one with more is left alone. Default: as many nodes as the
     * connected cluster has, at most 3 (1 on a single server). The DLQ stream also gets at least
     * the replicas of the most replicated stream of `streams`.
     */
    replicas?: number
  }
  /**
   * Whether a replica (`fn start`, `fn dev`) creates and updates what it uses: the streams listed
   * here, the DLQ stream, the registry buckets, the dead-letter payload bucket and each function's
   * consumer. With `false` (or `fn start --bind-only`) a replica only binds to what exists and
   * never creates, updates or deletes a stream, a consumer or a bucket: `fn deploy` provisions
   * everything, and a replica needs only the `replica` permissions of `fn auth`. Something
   * missing makes the function not ready (`/readyz` says what) until a deploy creates it.
   * Default: true.
   */
  provision?: boolean
  /** What `fn auth` puts in the roles' permissions beyond what it finds in the project. */
  auth?: {
    /**
     * Subjects handlers publish to with `ctx.publish` outside the streams of `streams` and those
     * the functions use (those are allowed already); wildcards `*` and `>` as whole tokens.
     * Default: none.
     */
    outputs?: string[]
  }
  /** Time in-flight work may take to finish on SIGTERM before it is nak'd. Default: '30s'. */
  shutdownGrace?: Duration
  /** Directory of function files, relative to the working directory. Default: 'functions'. */
  functionsDir?: string
}

/** A value returned by {@link defineConfig}. */
export type DefinedConfig = Readonly<ConfigDefinition> & { readonly [CONFIG_BRAND]: true }

/**
 * Declares the project's configuration; `export default` it from `fn.config.ts`. Returns a frozen,
 * branded copy of `cfg` and never modifies `cfg`. The file is validated when it is loaded.
 */
export function defineConfig(cfg: ConfigDefinition): DefinedConfig {
  return Object.freeze({ ...cfg, [CONFIG_BRAND]: true as const })
}

function hasBrand(x: unknown, brand: symbol): boolean {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[brand] === true
}

/** True when `x` was returned by `defineFunction`, from this bundle or any other. */
export function isFunctionDefinition(x: unknown): x is DefinedFunction<FnSchema | undefined, Decode> {
  return hasBrand(x, FUNCTION_BRAND)
}

/** True when `x` was returned by `defineConfig`, from this bundle or any other. */
export function isConfigDefinition(x: unknown): x is DefinedConfig {
  return hasBrand(x, CONFIG_BRAND)
}
