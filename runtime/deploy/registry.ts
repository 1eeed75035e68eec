/**
 * Where deployed functions live: manifests in KV `FN_FUNCTIONS`, bundles in Object Store
 * `FN_BUNDLES` under their sha256. Everything a replica knows comes from here.
 */
import { createHash } from 'node:crypto'
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv'
import { Objm, type ObjectStore } from '@nats-io/obj'
import type { NatsConnection } from '@nats-io/transport-node'
import type { QueuedIterator } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { pino, type Logger } from 'pino'
import { isNotFound, raiseReplicas } from '../nats/ensure-stream.ts'
import { ownReplicas } from '../nats/own-replicas.ts'
import { BUNDLES_BUCKET, FUNCTIONS_BUCKET, MANIFEST_HISTORY, parseManifest, type FunctionManifest } from './manifest.ts'

/** The stream behind KV bucket `FN_FUNCTIONS`. */
const KV_STREAM = `KV_${FUNCTIONS_BUCKET}`

/** One revision of a function's manifest in KV; `manifest` is undefined for a deletion. */
export interface ManifestRevision {
  name: string
  revision: number
  manifest: FunctionManifest | undefined
  /** Set when the stored value could not be read as a manifest. */
  error?: string
}

export class Registry {
  readonly #kv: KV
  readonly #os: ObjectStore

  private constructor(kv: KV, os: ObjectStore) {
    this.#kv = kv
    this.#os = os
  }

  /**
   * Opens both buckets. With `provision` (the default), creates them if needed and raises
   * buckets with fewer replicas than wanted (never lowers them). Without, it only binds to them
   * and changes nothing on the server: a bind-only replica and the read-only commands, whose
   * permissions allow no more. A registry that does not exist yet then reads as empty (no
   * manifest, no history), and starts working once `fn deploy` creates it.
   *
   * @param opts.replicas replicas of both buckets when created. Default: {@link ownReplicas} of
   *   the connected server (3 on a cluster of 3 or more nodes, 1 on a single server).
   * @param opts.log where a raise of replicas is logged. Default: nowhere.
   * @param opts.provision create and raise the buckets. Default: true.
   */
  static async open(nc: NatsConnection, opts: { replicas?: number | undefined; log?: Logger; provision?: boolean } = {}): Promise<Registry> {
    if (opts.provision === false) return Registry.#bind(nc)
    const replicas = opts.replicas ?? ownReplicas(nc.info)
    const kv = await new Kvm(nc).create(FUNCTIONS_BUCKET, { history: MANIFEST_HISTORY, replicas })
    const os = await new Objm(nc).create(BUNDLES_BUCKET, { replicas })
    // No API check: that is one more request, and the buckets above have just answered.
    const jsm = await jetstreamManager(nc, { checkAPI: false })
    const log = opts.log ?? pino({ enabled: false })
    await raiseReplicas(jsm, `KV_${FUNCTIONS_BUCKET}`, replicas, log)
    await raiseReplicas(jsm, `OBJ_${BUNDLES_BUCKET}`, replicas, log)
    return new Registry(kv, os)
  }

  /** Binds to the buckets without creating anything: one stream info, to use direct gets where the stream allows them. */
  static async #bind(nc: NatsConnection): Promise<Registry> {
    const jsm = await jetstreamManager(nc, { checkAPI: false })
    let allowDirect = false
    try {
      allowDirect = (await jsm.streams.info(KV_STREAM)).config.allow_direct ?? false
    } catch (err) {
      // Not created yet: bound anyway (reads use STREAM.MSG.GET, which any stream answers).
      if (!isNotFound(err)) throw err
    }
    const kv = await new Kvm(nc).open(FUNCTIONS_BUCKET, { allow_direct: allowDirect })
    const os = await new Objm(nc).open(BUNDLES_BUCKET, false)
    return new Registry(kv, os)
  }

  /** Stores a bundle under its hash unless it is already there. */
  async putBundle(version: string, code: Uint8Array): Promise<void> {
    const existing = await this.#os.info(version)
    if (existing && !existing.deleted && existing.size === code.length) return
    await this.#os.putBlob({ name: version, description: 'jetfn function bundle' }, code)
  }

  /** Fetches a bundle and checks that its sha256 is its name. */
  async getBundle(version: string): Promise<Uint8Array> {
    const code = await this.#os.getBlob(version)
    if (!code) throw new Error(`bundle ${version.slice(0, 12)} is not in ${BUNDLES_BUCKET}`)
    const actual = createHash('sha256').update(code).digest('hex')
    if (actual !== version) throw new Error(`bundle ${version.slice(0, 12)} is corrupt: its sha256 is ${actual.slice(0, 12)}`)
    return code
  }

  async hasBundle(version: string): Promise<boolean> {
    const info = await this.#os.info(version)
    return info !== null && !info.deleted
  }

  /** The deployed manifest of `name`; undefined when there is none (or no registry yet). */
  async get(name: string): Promise<FunctionManifest | undefined> {
    const entry = await this.#kv.get(name).catch(orNothing)
    if (!entry || entry.operation !== 'PUT') return undefined
    return parseManifest(name, entry.value)
  }

  /** Writes a manifest; returns its KV revision. */
  async put(manifest: FunctionManifest): Promise<number> {
    return this.#kv.put(manifest.name, JSON.stringify(manifest))
  }

  /**
   * Changes a deployed manifest with a compare-and-set: `change` gets the manifest as stored and
   * returns the new one (or undefined to leave it); a write that lost to another (a deploy at the
   * same moment) reads again and retries. Returns the manifest written, or undefined when there
   * was none or nothing changed.
   */
  async edit(name: string, change: (m: FunctionManifest) => FunctionManifest | undefined): Promise<FunctionManifest | undefined> {
    for (let attempt = 0; ; attempt++) {
      const entry = await this.#kv.get(name).catch(orNothing)
      if (!entry || entry.operation !== 'PUT') return undefined
      const next = change(parseManifest(name, entry.value))
      if (!next) return undefined
      try {
        await this.#kv.update(name, JSON.stringify(next), entry.revision)
        return next
      } catch (err) {
        if (attempt >= 4 || !/wrong last sequence/i.test((err as Error).message)) throw err
      }
    }
  }

  async delete(name: string): Promise<void> {
    await this.#kv.delete(name)
  }

  /** Every function currently deployed (none when there is no registry yet). */
  async list(): Promise<FunctionManifest[]> {
    const names: string[] = []
    const keys = await this.#kv.keys().catch(orNothing)
    for await (const key of keys ?? []) names.push(key)
    const manifests = await Promise.all(names.sort().map((n) => this.get(n)))
    return manifests.filter((m): m is FunctionManifest => m !== undefined)
  }

  /** The revisions of one function's manifest, oldest first (none when there is no registry yet). */
  async history(name: string): Promise<ManifestRevision[]> {
    const out: ManifestRevision[] = []
    const it = await this.#kv.history({ key: name }).catch(orNothing)
    for await (const e of it ?? []) out.push(toRevision(e))
    return out
  }

  /**
   * Every deployed function plus the KV revision the list is complete up to. Pass the revision
   * to {@link watchAfter} to get every change made since, none missed (some may repeat).
   */
  async snapshot(): Promise<{ manifests: ManifestRevision[]; revision: number }> {
    const revision = (await this.#kv.status()).streamInfo.state.last_seq
    const names: string[] = []
    for await (const key of await this.#kv.keys()) names.push(key)
    const manifests: ManifestRevision[] = []
    for (const name of names.sort()) {
      const entry = await this.#kv.get(name)
      if (entry) manifests.push(toRevision(entry))
    }
    return { manifests, revision }
  }

  /**
   * When the manifests' KV stream was created: another value means it was deleted and made again
   * (its revisions start over). Rejects when the stream is gone.
   */
  async createdAt(): Promise<string> {
    return (await this.#kv.status()).streamInfo.created
  }

  /** Changes to any manifest after `revision`, in order. */
  async watchAfter(revision: number): Promise<QueuedIterator<KvWatchEntry>> {
    return this.#kv.watch({ key: '>', resumeFromRevision: revision + 1 })
  }
}

export function toRevision(e: Pick<KvWatchEntry, 'key' | 'revision' | 'operation' | 'value'>): ManifestRevision {
  if (e.operation !== 'PUT') return { name: e.key, revision: e.revision, manifest: undefined }
  try {
    return { name: e.key, revision: e.revision, manifest: parseManifest(e.key, e.value) }
  } catch (err) {
    return { name: e.key, revision: e.revision, manifest: undefined, error: (err as Error).message }
  }
}

/** `undefined` for a registry stream that does not exist (a bound registry before the first deploy); rethrows anything else. */
function orNothing(err: unknown): undefined {
  if (isNotFound(err) || /stream not found/i.test(String((err as Error)?.message))) return undefined
  throw err
}
