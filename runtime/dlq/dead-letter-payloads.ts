/**
 * Object Store bucket `FN_DLQ_PAYLOADS`: where a dead letter too big for one message keeps its
 * payload (claim check), and an undecodable header block too big for a header keeps its bytes.
 * Objects are named after the dead letter's id (`dlq:<function>:<stream>:<seq>`), so writing one
 * again (a replica died before the term) replaces it rather than adding a second.
 */
import { Objm, type ObjectStore } from '@nats-io/obj'
import type { NatsConnection } from '@nats-io/transport-node'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import type { JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { isNotFound, raiseReplicas } from '../nats/ensure-stream.ts'
import { ownReplicas } from '../nats/own-replicas.ts'
import { DLQ_PAYLOADS_BUCKET } from '../settle/dead-letter.ts'

/** Options of {@link DeadLetterPayloads}. */
export interface DeadLetterPayloadsOptions {
  /**
   * Replicas of the bucket when it has to be created (as the DLQ stream's). Default:
   * {@link ownReplicas} of the connected server (3 on a cluster of 3 or more nodes, 1 on one server).
   */
  replicas?: number
  /**
   * Create the bucket on first use. Default true. A bind-only replica sets false: a put into a
   * bucket `fn deploy` has not created yet fails (`FN_NOT_PROVISIONED`), and the dead letter waits.
   */
  provision?: boolean
}

/** The bucket's options as `fn deploy` and a provisioning replica create it. */
export function payloadsBucketOptions(replicas: number): { replicas: number; description: string } {
  return { replicas, description: 'jetfn dead-letter payloads too big for one message' }
}

/**
 * Creates the bucket if missing and raises its replicas if it has fewer (`fn deploy`, for
 * bind-only replicas, which never create it).
 */
export async function ensurePayloadsBucket(jsm: JetStreamManager, replicas: number, log: Logger): Promise<void> {
  await new Objm(jsm.jetstream()).create(DLQ_PAYLOADS_BUCKET, payloadsBucketOptions(replicas))
  await raiseReplicas(jsm, `OBJ_${DLQ_PAYLOADS_BUCKET}`, replicas, log)
}

export class DeadLetterPayloads {
  readonly #nc: NatsConnection
  readonly #replicas: number
  readonly #provision: boolean
  #store: Promise<ObjectStore> | undefined

  constructor(nc: NatsConnection, opts: DeadLetterPayloadsOptions = {}) {
    this.#nc = nc
    this.#replicas = opts.replicas ?? ownReplicas(nc.info)
    this.#provision = opts.provision ?? true
  }

  /** Stores `data` under `name`, creating the bucket on first use (unless told not to provision). */
  async put(name: string, data: Uint8Array, description: string): Promise<void> {
    const store = await this.#open(this.#provision)
    if (!store) {
      throw new FnError(FnErrorCode.NotProvisioned, `Object Store ${DLQ_PAYLOADS_BUCKET} does not exist: \`fn deploy\` creates it`)
    }
    await store.putBlob({ name, description }, data)
  }

  /** The object's bytes; undefined when it (or the bucket) is missing. */
  async get(name: string): Promise<Uint8Array | undefined> {
    const store = await this.#open(false)
    return (await store?.getBlob(name)) ?? undefined
  }

  /** Removes an object; false when it was not there. */
  async delete(name: string): Promise<boolean> {
    const store = await this.#open(false)
    if (!store || !(await store.info(name))) return false
    await store.delete(name)
    return true
  }

  /** Removes every object whose name starts with `prefix`; returns how many. */
  async deleteByPrefix(prefix: string): Promise<number> {
    const store = await this.#open(false)
    if (!store) return 0
    let n = 0
    for (const info of await store.list()) {
      if (!info.name.startsWith(prefix)) continue
      await store.delete(info.name)
      n++
    }
    return n
  }

  async #open(create: boolean): Promise<ObjectStore | undefined> {
    if (this.#store) return this.#store
    const objm = new Objm(this.#nc)
    if (create) {
      this.#store = objm.create(DLQ_PAYLOADS_BUCKET, payloadsBucketOptions(this.#replicas))
      // A failed create (no permission, JetStream away) is tried again by the next call.
      this.#store.catch(() => (this.#store = undefined))
      return this.#store
    }
    try {
      const store = await objm.open(DLQ_PAYLOADS_BUCKET)
      this.#store = Promise.resolve(store)
      return store
    } catch (err) {
      if (isNotFound(err) || /not found/i.test((err as Error).message)) return undefined
      throw err
    }
  }
}
