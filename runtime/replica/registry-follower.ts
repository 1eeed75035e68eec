/**
 * Keeps a replica in step with the registry: every function in `FN_FUNCTIONS` runs, at the
 * version its manifest names. A new version is fetched (or found in the disk cache by hash),
 * loaded in a worker thread, and only then routed to; if it fails to load, the previous version
 * keeps serving and the failure is logged. A deleted manifest stops the function.
 *
 * A replica that does not follow the registry must not say it is ready ({@link problems}, read
 * by `/readyz`): a watch that ends is restarted with backoff, from a fresh snapshot (so nothing
 * deployed or removed meanwhile is missed). nats.js's KV watch does not end when its stream is
 * deleted: it retries quietly, and on a stream made again it resumes past the old revision and so
 * skips the new entries. So while watching, the stream is checked every few seconds; gone or made
 * again, the watch is restarted. And a change that could not be applied for a reason
 * outside the function (the bundle store, the consumer, the connection) is tried again with
 * backoff. A bundle that fails to load is the function's own fault and waits for a new version.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { KvWatchEntry } from '@nats-io/kv'
import type { QueuedIterator } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { bundleCacheDir, toRunnable } from '../deploy/load-function.ts'
import { writeBundle } from '../deploy/bundle-function.ts'
import type { FunctionManifest } from '../deploy/manifest.ts'
import { toRevision, type ManifestRevision, type Registry } from '../deploy/registry.ts'
import type { Replica } from './replica.ts'
import { retryDelayMs } from './retry-delay.ts'
import { FnErrorCode, isFnError } from '../errors/fn-error.ts'
import { FUNCTIONS_BUCKET } from '../deploy/manifest.ts'

/** Why a bind-only replica is not following the registry before the first deploy. */
const REGISTRY_MISSING = `the registry (KV ${FUNCTIONS_BUCKET}) does not exist yet: \`fn deploy\` creates it`

/** True for the error of reading a registry whose stream does not exist. */
function registryMissing(err: unknown): boolean {
  return /stream not found/i.test(String((err as Error)?.message))
}

/** Options of {@link RegistryFollower}. */
export interface RegistryFollowerOptions {
  replica: Replica
  registry: Registry
  /** The `.fn` directory; bundles are cached under `cache/bundles/<sha256>.mjs`. */
  home: string
  log: Logger
  /** Called after each applied change (tests and `fn dev` wait on it). */
  onApplied?: (rev: ManifestRevision, outcome: 'deployed' | 'removed' | 'unchanged' | 'failed') => void
  /** How often the registry's stream is checked while it is watched, ms. Default 5 000. */
  checkIntervalMs?: number
  /**
   * The replica is bind-only: a registry that does not exist yet is waited for (the replica is
   * not ready, and says so once) rather than a failed start, and a function whose consumer
   * `fn deploy` has not created yet is tried again every few seconds. Default false.
   */
  bindOnly?: boolean
}

/** Longest wait between tries of a function whose consumer is not there yet (bind-only), ms: a deploy is picked up this fast. */
const NOT_PROVISIONED_RETRY_MAX_MS = 5_000

/** A change that could not be applied, waiting for its next try. */
interface PendingRetry {
  rev: ManifestRevision
  attempt: number
  reason: string
  timer: NodeJS.Timeout
}

/** The function's bundle did not load in a worker: trying the same version again cannot help. */
class LoadFailure {
  constructor(readonly err: unknown) {}
}

export class RegistryFollower {
  readonly #o: RegistryFollowerOptions
  #stopped = false
  #watch: QueuedIterator<KvWatchEntry> | undefined
  /** Applies run one at a time, in the order they were asked for. */
  #queue: Promise<void> = Promise.resolve()
  /** Why the registry is not followed now; undefined while it is. */
  #notFollowing: string | undefined
  #restartAttempt = 0
  #restartTimer: NodeJS.Timeout | undefined
  #checkTimer: NodeJS.Timeout | undefined
  /** Why the follower itself ended the current watch. */
  #endReason: string | undefined
  readonly #retries = new Map<string, PendingRetry>()

  constructor(opts: RegistryFollowerOptions) {
    this.#o = opts
  }

  /**
   * Applies every current manifest, then follows changes in the background. Rejects if the first
   * snapshot or watch fails, except (bind-only) for a registry that does not exist yet: that is
   * waited for.
   */
  async start(): Promise<void> {
    try {
      await this.#follow()
    } catch (err) {
      if (!this.#o.bindOnly || !registryMissing(err)) throw err
      this.#o.log.warn({ reason: (err as Error).message }, 'the registry does not exist yet and this replica is bind-only: waiting for `fn deploy` to create it')
      this.#restart(REGISTRY_MISSING)
    }
  }

  /** Why the replica is not in step with the registry (empty when it is): for `/readyz`. */
  problems(): string[] {
    const out: string[] = []
    if (this.#notFollowing !== undefined) out.push(`not following the registry: ${this.#notFollowing}`)
    for (const [name, r] of this.#retries) {
      const version = r.rev.manifest?.version.slice(0, 12)
      out.push(`${version ? `${name} ${version}` : `removal of ${name}`} not applied: ${r.reason} (tried ${r.attempt} times, trying again)`)
    }
    return out
  }

  stop(): void {
    this.#stopped = true
    this.#watch?.stop()
    clearTimeout(this.#restartTimer)
    clearInterval(this.#checkTimer)
    for (const r of this.#retries.values()) clearTimeout(r.timer)
    this.#retries.clear()
  }

  /** Snapshot, apply, watch from the snapshot's revision. Functions gone from the snapshot are removed. */
  async #follow(): Promise<void> {
    const createdAt = await this.#o.registry.createdAt()
    const { manifests, revision } = await this.#o.registry.snapshot()
    const listed = new Set(manifests.map((m) => m.name))
    for (const rev of manifests) await this.#enqueue(rev)
    // Removed while the registry was not followed (the first snapshot finds nothing running).
    for (const name of this.#o.replica.functions) {
      if (!listed.has(name)) await this.#enqueue({ name, revision, manifest: undefined })
    }
    const changes = await this.#o.registry.watchAfter(revision)
    if (this.#stopped) {
      changes.stop()
      return
    }
    this.#watch = changes
    if (this.#notFollowing !== undefined) this.#o.log.info({ attempts: this.#restartAttempt }, 'registry watch restarted: following deploys again')
    this.#notFollowing = undefined
    this.#restartAttempt = 0
    this.#endReason = undefined
    this.#checkTimer = setInterval(() => void this.#check(changes, createdAt), this.#o.checkIntervalMs ?? 5_000)
    this.#checkTimer.unref()
    void this.#consume(changes)
  }

  /** Ends the watch if the registry's stream is gone or was made again since the watch began. */
  async #check(changes: QueuedIterator<KvWatchEntry>, createdAt: string): Promise<void> {
    let reason: string | undefined
    try {
      if ((await this.#o.registry.createdAt()) !== createdAt) reason = 'the registry stream was deleted and made again'
    } catch (err) {
      const message = (err as Error).message
      // Anything else (a timeout while disconnected) says nothing about the watch.
      if (/stream not found/i.test(message)) reason = `the registry stream is gone (${message})`
      else this.#o.log.debug({ err }, 'registry check failed')
    }
    if (reason === undefined || this.#watch !== changes || this.#stopped) return
    this.#endReason = reason
    changes.stop()
  }

  async #consume(changes: QueuedIterator<KvWatchEntry>): Promise<void> {
    let reason = 'the watch ended'
    try {
      for await (const entry of changes) {
        if (this.#stopped || this.#endReason !== undefined) break
        await this.#enqueue(toRevision(entry))
      }
    } catch (err) {
      reason = `the watch failed: ${(err as Error).message}`
    }
    clearInterval(this.#checkTimer)
    this.#watch = undefined
    if (this.#stopped) return
    reason = this.#endReason ?? reason
    this.#o.log.error({ reason }, 'registry watch ended: deploys are not followed until it is restarted')
    this.#restart(reason)
  }

  #restart(reason: string): void {
    const delayMs = retryDelayMs(++this.#restartAttempt, reason === REGISTRY_MISSING ? { maxMs: NOT_PROVISIONED_RETRY_MAX_MS } : {})
    this.#notFollowing = `${reason}; restarting the watch (attempt ${this.#restartAttempt})`
    this.#restartTimer = setTimeout(() => {
      if (this.#stopped) return
      this.#follow().catch((err: unknown) => {
        if (this.#stopped) return
        if (this.#o.bindOnly && registryMissing(err)) {
          // Said once already, at start or when the watch ended.
          this.#o.log.debug({ attempt: this.#restartAttempt }, 'registry still missing')
          this.#restart(REGISTRY_MISSING)
          return
        }
        this.#o.log.warn({ err, attempt: this.#restartAttempt }, 'registry watch not restarted yet')
        this.#restart(`cannot watch the registry: ${(err as Error).message}`)
      })
    }, delayMs)
  }

  #enqueue(rev: ManifestRevision): Promise<void> {
    // A newer revision of a function supersedes one waiting for its next try.
    const pending = this.#retries.get(rev.name)
    if (pending && pending.rev !== rev) {
      clearTimeout(pending.timer)
      this.#retries.delete(rev.name)
    }
    this.#queue = this.#queue
      .then(() => this.#applyOrRetry(rev, pending?.rev === rev ? pending.attempt : 0))
      .catch((err: unknown) => this.#o.log.error({ err, fn: rev.name }, 'registry change handling failed'))
    return this.#queue
  }

  async #applyOrRetry(rev: ManifestRevision, attempt: number): Promise<void> {
    if (this.#stopped) return
    try {
      await this.#apply(rev)
      if (attempt > 0) {
        this.#retries.delete(rev.name)
        this.#o.log.info({ fn: rev.name, revision: rev.revision, attempts: attempt + 1 }, 'registry change applied after retrying')
      }
    } catch (err) {
      const next = attempt + 1
      const notProvisioned = isFnError(err, FnErrorCode.NotProvisioned)
      const delayMs = retryDelayMs(next, notProvisioned ? { maxMs: NOT_PROVISIONED_RETRY_MAX_MS } : {})
      const reason = (err as Error).message
      if (!notProvisioned) this.#o.log.error({ err, fn: rev.name, revision: rev.revision, attempt: next, delayMs }, 'registry change not applied; trying again')
      // Waiting for `fn deploy` is a state, not a string of failures: said once.
      else if (attempt === 0) this.#o.log.warn({ fn: rev.name, revision: rev.revision, reason }, 'function not started: waiting for `fn deploy` to provision it')
      else this.#o.log.debug({ fn: rev.name, attempt: next, delayMs }, 'still not provisioned')
      this.#o.onApplied?.(rev, 'failed')
      const timer = setTimeout(() => {
        if (!this.#stopped && this.#retries.get(rev.name)?.rev === rev) void this.#enqueue(rev)
      }, delayMs)
      this.#retries.set(rev.name, { rev, attempt: next, reason, timer })
    }
  }

  /** Applies one revision; throws when it could not for a reason worth trying again. */
  async #apply(rev: ManifestRevision): Promise<void> {
    const { replica, log } = this.#o
    if (rev.error) {
      log.error({ fn: rev.name, revision: rev.revision, reason: rev.error }, 'unreadable manifest ignored')
      this.#o.onApplied?.(rev, 'failed')
      return
    }
    if (!rev.manifest) {
      await replica.remove(rev.name)
      this.#o.onApplied?.(rev, 'removed')
      return
    }
    const m = rev.manifest
    const current = replica.running(m.name)
    if (current && current.version === m.version && JSON.stringify(toRunnable({ options: m.options, version: m.version, bundlePath: current.bundlePath }, m.stream)) === JSON.stringify(current)) {
      // The same version: only its replays (`fn replay`) may have changed.
      await replica.replay(m.name, m.replays ?? [])
      this.#o.onApplied?.(rev, 'unchanged')
      return
    }
    try {
      const bundlePath = await this.#bundle(m)
      const fn = toRunnable({ options: m.options, version: m.version, bundlePath }, m.stream)
      await replica.preload(fn).catch((err: unknown) => {
        throw new LoadFailure(err)
      })
      await replica.deploy(fn)
      await replica.replay(m.name, m.replays ?? [])
      log.info({ fn: m.name, version: m.version.slice(0, 12), previous: current?.version.slice(0, 12), by: `${m.deployedBy.user}@${m.deployedBy.host}` }, 'function version live')
      this.#o.onApplied?.(rev, 'deployed')
    } catch (caught) {
      if (!(caught instanceof LoadFailure)) throw caught
      log.error(
        { fn: m.name, version: m.version.slice(0, 12), serving: current?.version.slice(0, 12) ?? null, reason: (caught.err as Error).message },
        current ? 'new version failed to load; the previous version keeps serving' : 'function failed to load; it is not running',
      )
      this.#o.onApplied?.(rev, 'failed')
    }
  }

  /** The bundle's path in the disk cache, fetched from the Object Store if missing or corrupt. */
  async #bundle(m: FunctionManifest): Promise<string> {
    const path = join(bundleCacheDir(this.#o.home), `${m.version}.mjs`)
    try {
      const cached = await readFile(path)
      if (createHash('sha256').update(cached).digest('hex') === m.version) return path
      this.#o.log.warn({ fn: m.name, path }, 'cached bundle does not match its hash; fetching it again')
    } catch {
      // Not cached yet.
    }
    const code = await this.#o.registry.getBundle(m.version)
    await writeBundle(path, code, { replace: true })
    return path
  }
}
