/**
 * `fn deploy`: builds function files, and only if every one of them builds and validates, stores
 * each changed bundle and manifest. A deploy that changes nothing writes nothing.
 */
import { basename, extname } from 'node:path'
import { availableParallelism, hostname, userInfo } from 'node:os'
import { readFile } from 'node:fs/promises'
import type { JetStreamManager } from '@nats-io/jetstream'
import type { ServerInfo } from '@nats-io/transport-node'
import type { ResolvedConfig } from '../config/config-schema.ts'
import { FnError, FnErrorCode, isFnError } from '../errors/fn-error.ts'
import { findStream } from '../nats/find-stream.ts'
import { consumerName, consumerSpec, ensureConsumer } from '../nats/ensure-consumer.ts'
import { ensureStream, isNotFound } from '../nats/ensure-stream.ts'
import { dlqReplicas, dlqStreamSpec } from '../dlq/dlq-stream.ts'
import { ensurePayloadsBucket } from '../dlq/dead-letter-payloads.ts'
import { findViolation } from '../nats/permission-denied.ts'
import { ownReplicas } from '../nats/own-replicas.ts'
import { missingFeature } from '../nats/server-features.ts'
import { openRates } from '../rate/shared-rate.ts'
import { pino, type Logger } from 'pino'
import { buildFunctionFile, type BuiltFunction } from './load-function.ts'
import { mapLimit } from './map-limit.ts'
import { BUNDLES_BUCKET, sameDeployment, type FunctionManifest } from './manifest.ts'
import type { Registry } from './registry.ts'
import { endFinishedReplays } from './replay-function.ts'
import { hasFeature, UPGRADE_HINT, type ServerFeature } from '../nats/server-features.ts'
import { ensureSchedulesStream } from '../schedule/schedules-stream.ts'
import { removeSchedules, writeSchedule } from '../schedule/function-schedule.ts'
import { SCHEDULES_STREAM } from '../schedule/schedule-subjects.ts'
import type { ResolvedFunctionOptions } from '../function/function-options.ts'

/** What a deploy did to one function. */
export interface DeployResult {
  name: string
  file: string
  status: 'created' | 'updated' | 'unchanged'
  version: string
  /** The version it replaced, for `updated`. */
  previous?: string | undefined
  /**
   * The function was deployed but its consumer was gone (deleted by hand, its stream made again):
   * the deploy created it again, at the function's `startFrom`.
   */
  consumerRecreated?: boolean
  /** The function moved from this stream: its consumer there is removed (or, in `oldConsumerLeft`, why not). */
  movedFrom?: string | undefined
  /** Why the old consumer of a moved function could not be removed (it then stays, unused). */
  oldConsumerLeft?: string | undefined
}

/** Options of {@link deployFunctions}. */
export interface DeployOptions {
  config: ResolvedConfig
  registry: Registry
  jsm: JetStreamManager
  /** Function files to deploy. */
  files: readonly string[]
  /** Only these functions (by function name or file name); default all of `files`. */
  names?: readonly string[]
  /** The `.fn` directory (bundle cache). */
  home: string
  cwd?: string
  /** Where consumer changes are logged. Default: nowhere. */
  log?: Logger
  /**
   * The connected server's INFO (`nc.info`): sizes the DLQ stream if this deploy creates it
   * (see `dlqReplicas`). Default: none, as for a single server; a replica raises it later.
   */
  server?: (Pick<ServerInfo, 'cluster' | 'connect_urls'> & Partial<Pick<ServerInfo, 'version'>>) | undefined
}

const SILENT = pino({ level: 'silent' })

interface Prepared {
  built: BuiltFunction
  stream: string
}

export async function deployFunctions(opts: DeployOptions): Promise<DeployResult[]> {
  const selected = selectFiles(opts.files, opts.names)
  const prepared: Prepared[] = []
  const failures: FnError[] = []
  // Files are built (bundled, then imported in a throwaway thread) a core's worth at a time; the
  // results keep the order of the files.
  const built = await mapLimit(selected, availableParallelism(), async (file): Promise<Prepared | FnError> => {
    try {
      const fn = await buildFunctionFile(file, { config: opts.config, home: opts.home, ...(opts.cwd ? { cwd: opts.cwd } : {}) })
      return { built: fn, stream: await findStream(fn.options.subject, opts.config.streams, opts.jsm, fn.file) }
    } catch (err) {
      return isFnError(err) ? err : new FnError(FnErrorCode.Internal, `${file}: ${(err as Error).message}`, { cause: err })
    }
  })
  for (const b of built) {
    if (b instanceof FnError) failures.push(b)
    else prepared.push(b)
  }
  // Keyed functions run on one replica at a time, through a pinned consumer (2.11).
  const version = opts.server?.version
  for (const p of prepared) {
    const missing = p.built.options.keyed && version ? missingFeature('pinned consumers (key, concurrency.key)', version) : null
    if (missing) failures.push(new FnError(FnErrorCode.ServerUnsupported, `${p.built.file}: ${missing}`, { hint: 'upgrade nats-server (every node of the cluster), or deploy without key / concurrency.key' }))
  }
  const wanted = new Set(opts.names ?? [])
  const picked = opts.names ? prepared.filter((p) => wanted.has(p.built.options.name) || wanted.has(fileName(p.built.file))) : prepared
  if (opts.names && failures.length === 0) {
    const found = new Set(picked.flatMap((p) => [p.built.options.name, fileName(p.built.file)]))
    const missing = opts.names.filter((n) => !found.has(n))
    if (missing.length > 0) {
      throw new FnError(FnErrorCode.UsageInvalid, `no function named ${missing.map((m) => `'${m}'`).join(', ')} in ${opts.config.functionsDir}/`)
    }
  }
  const byName = new Map<string, string>()
  for (const p of picked) {
    const other = byName.get(p.built.options.name)
    if (other) failures.push(new FnError(FnErrorCode.FunctionInvalid, `${p.built.file}: function name '${p.built.options.name}' is also used by ${other}`))
    byName.set(p.built.options.name, p.built.file)
  }
  // A schedule or debounce the connected server cannot keep is refused before anything is written.
  if (version !== undefined) {
    for (const p of picked) {
      const feature = neededFeature(p.built.options)
      const reason = feature && missingFeature(feature, version)
      if (reason) failures.push(new FnError(FnErrorCode.ServerUnsupported, `${p.built.file}: ${reason}`, { hint: UPGRADE_HINT }))
    }
  }
  if (failures.length > 0) {
    // Nothing is written unless everything is deployable.
    throw new FnError(failures[0]!.code, failures.map((f) => f.message).join('\n'), { cause: failures[0], hint: failures[0]!.code === FnErrorCode.ServerUnsupported ? `${UPGRADE_HINT}; nothing was deployed` : 'nothing was deployed' })
  }
  // A deployer provisions what it deploys onto (DESIGN): the configured streams its functions
  // use, then each function's consumer, so that `startFrom: 'new'` counts from this deploy.
  const log = opts.log ?? SILENT
  for (const name of new Set(picked.map((p) => p.stream))) {
    const configured = opts.config.streams.find((st) => st.name === name)
    if (configured) await ensureStream(opts.jsm, configured, log)
  }
  if (picked.length > 0) {
    // Everything a bind-only replica needs and may not create: the DLQ and its payload store.
    await ensureStream(opts.jsm, dlqStreamSpec(opts.config, opts.server), log, { own: true })
    await ensurePayloadsBucket(opts.jsm, dlqReplicas(opts.config, opts.server), log)
    // Schedules, delayed outputs and debounce live in FN_SCHEDULES, where the server has them.
    if (hasFeature('delayed messages', version)) await ensureSchedulesStream(opts.jsm, ownReplicas(opts.server, opts.config.jetfn.replicas), log)
  }
  // Shared rate limits keep their state in FN_RATES, which bind-only replicas only open.
  if (picked.some((p) => p.built.options.rateLimit)) await openRates(opts.jsm.jetstream(), { create: true, replicas: ownReplicas(opts.server, opts.config.jetfn.replicas) })
  const who = deployer()
  const results: DeployResult[] = []
  for (const { built, stream } of picked) {
    const manifest: FunctionManifest = {
      name: built.options.name,
      version: built.version,
      subject: built.options.subject,
      stream,
      options: built.options,
      bundle: { bucket: BUNDLES_BUCKET, object: built.version, size: 0 },
      deployedAt: new Date().toISOString(),
      deployedBy: who,
      file: built.file,
    }
    // A manifest that cannot be read is replaced; a refused permission is the deploy's failure.
    const current = await opts.registry.get(manifest.name).catch((err: unknown) => {
      if (findViolation(err)) throw err
      return undefined
    })
    // Replays in progress go on, on the new version.
    if (current?.replays?.length && current.stream === stream) manifest.replays = current.replays
    const spec = consumerSpec({ ...built.options, stream })
    if (sameDeployment(current, manifest)) {
      // Unchanged, but its consumer may have been lost: bind-only replicas wait for a deploy to
      // bring it back (a provisioning replica would have made it again itself).
      const { created } = await ensureConsumer(opts.jsm, spec, log)
      if (built.options.schedule) await writeSchedule(opts.jsm.jetstream(), opts.jsm, manifest.name, built.options.schedule).catch((err: unknown) => refusedSchedule(built.file, err))
      results.push({ name: manifest.name, file: built.file, status: 'unchanged', version: manifest.version, ...(created ? { consumerRecreated: true } : {}) })
      continue
    }
    const code = await readFile(built.bundlePath)
    manifest.bundle.size = code.length
    await opts.registry.putBundle(manifest.version, code)
    // The consumer exists from the deploy on, so that `startFrom: 'new'` counts from now, not from
    // whenever a replica first runs the function (messages published in between are kept).
    // A redeploy updates the consumer and keeps its pause (`fn pause`); a function moved to another
    // stream gets a new consumer there, paused as the old one was.
    const pauseUntil = current && current.stream !== stream ? await carriedPause(opts.jsm, current) : undefined
    const { created } = await ensureConsumer(opts.jsm, { ...spec, ...(pauseUntil ? { pauseUntil } : {}) }, log)
    // The schedule is written (or replaced) before the manifest: a spec the server refuses deploys nothing new.
    if (built.options.schedule) await writeSchedule(opts.jsm.jetstream(), opts.jsm, manifest.name, built.options.schedule).catch((err: unknown) => refusedSchedule(built.file, err))
    else if (current?.options.schedule || current?.options.debounce) await removeSchedules(opts.jsm, manifest.name)
    await opts.registry.put(manifest)
    const result: DeployResult = { name: manifest.name, file: built.file, status: current ? 'updated' : 'created', version: manifest.version, previous: current?.version }
    if (current && created && current.stream === stream) result.consumerRecreated = true
    if (current && current.stream !== stream) Object.assign(result, { movedFrom: current.stream }, await retireConsumer(opts.jsm, manifest.name, current.stream))
    results.push(result)
  }
  // Replays (`fn replay`) that have run to their end: their consumers and entries go.
  for (const { built } of picked) await endFinishedReplays({ jsm: opts.jsm, registry: opts.registry }, built.options.name)
  return results
}

/** The server feature a function's options need, if any. */
function neededFeature(o: ResolvedFunctionOptions): ServerFeature | undefined {
  if (o.schedule) return 'cron schedules'
  if (o.debounce) return 'delayed messages'
  return undefined
}

function refusedSchedule(file: string, err: unknown): never {
  throw new FnError(FnErrorCode.FunctionInvalid, `${file}: the server refused the schedule: ${(err as Error).message}`, { cause: err, hint: `a time zone needs tzdata on every nats-server; nothing changed in ${SCHEDULES_STREAM}` })
}

/** The pause of a function's consumer on the stream it leaves, to carry to its new one. */
async function carriedPause(jsm: JetStreamManager, previous: FunctionManifest): Promise<string | undefined> {
  const info = await jsm.consumers.info(previous.stream, consumerName(previous.name)).catch(() => undefined)
  return info?.paused === true ? info.config.pause_until : undefined
}

/**
 * Removes the consumer a moved function left on its old stream, once the manifest names the new
 * one. Replicas still draining it lose only acks of messages that no consumer of the function
 * reads any more. A removal that fails (no permission on the old stream) is reported, not fatal:
 * the deploy itself is done.
 */
async function retireConsumer(jsm: JetStreamManager, name: string, stream: string): Promise<{ oldConsumerLeft?: string }> {
  try {
    await jsm.consumers.delete(stream, consumerName(name))
    return {}
  } catch (err) {
    if (isNotFound(err)) return {}
    return { oldConsumerLeft: (err as Error).message }
  }
}

function selectFiles(files: readonly string[], names: readonly string[] | undefined): readonly string[] {
  if (!names || names.length === 0) return files
  const byFile = files.filter((f) => names.includes(fileName(f)))
  // A name that is no file's name may be a function's own `name`: then every file must be built.
  return byFile.length === names.length ? byFile : files
}

function fileName(file: string): string {
  return basename(file, extname(file))
}

/** Who is deploying: the OS user and host. */
export function deployer(): { user: string; host: string } {
  let user: string
  try {
    user = userInfo().username
  } catch {
    // No passwd entry (some containers): fall back to the environment.
    user = process.env.USER ?? process.env.USERNAME ?? 'unknown'
  }
  return { user, host: hostname() }
}
