/**
 * Keeps a replica in step with the registry: every function in `FN_FUNCTIONS` runs, at the
 * version its manifest names. A new version is fetched (or found in the disk cache by hash),
 * loaded in a worker thread, and only then routed to; if it fails to load, the previous version
 * keeps serving and the failure is logged. A deleted manifest stops the function.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { bundleCacheDir, toRunnable } from '../deploy/load-function.ts'
import { writeBundle } from '../deploy/bundle-function.ts'
import type { FunctionManifest } from '../deploy/manifest.ts'
import { toRevision, type ManifestRevision, type Registry } from '../deploy/registry.ts'
import type { Replica } from './replica.ts'

/** Options of {@link RegistryFollower}. */
export interface RegistryFollowerOptions {
  replica: Replica
  registry: Registry
  /** The `.fn` directory; bundles are cached under `cache/bundles/<sha256>.mjs`. */
  home: string
  log: Logger
  /** Called after each applied change (tests and `fn dev` wait on it). */
  onApplied?: (rev: ManifestRevision, outcome: 'deployed' | 'removed' | 'unchanged' | 'failed') => void
}

export class RegistryFollower {
  readonly #o: RegistryFollowerOptions
  #stopped = false
  #watch: { stop(): void } | undefined

  constructor(opts: RegistryFollowerOptions) {
    this.#o = opts
  }

  /** Applies every current manifest, then follows changes in the background. */
  async start(): Promise<void> {
    const { manifests, revision } = await this.#o.registry.snapshot()
    for (const rev of manifests) await this.#apply(rev)
    const changes = await this.#o.registry.watchAfter(revision)
    this.#watch = changes
    void (async () => {
      for await (const entry of changes) {
        if (this.#stopped) break
        await this.#apply(toRevision(entry))
      }
    })().catch((err: unknown) => this.#o.log.error({ err }, 'registry watch ended; deploys are no longer followed'))
  }

  stop(): void {
    this.#stopped = true
    this.#watch?.stop()
  }

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
      this.#o.onApplied?.(rev, 'unchanged')
      return
    }
    try {
      const bundlePath = await this.#bundle(m)
      const fn = toRunnable({ options: m.options, version: m.version, bundlePath }, m.stream)
      await replica.preload(fn)
      await replica.deploy(fn)
      log.info({ fn: m.name, version: m.version.slice(0, 12), previous: current?.version.slice(0, 12), by: `${m.deployedBy.user}@${m.deployedBy.host}` }, 'function version live')
      this.#o.onApplied?.(rev, 'deployed')
    } catch (err) {
      log.error(
        { fn: m.name, version: m.version.slice(0, 12), serving: current?.version.slice(0, 12) ?? null, reason: (err as Error).message },
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
