/**
 * `fn dlq` as a library: list, show, replay and purge one function's dead letters. A function is
 * known when it is deployed or has dead letters (a removed function's dead letters can still be
 * read, replayed and purged). Every sequence named is checked before anything changes.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import type { FunctionManifest } from '../deploy/manifest.ts'
import type { Registry } from '../deploy/registry.ts'
import { functionNameProblem } from '../function/function-options.ts'
import type { DeadLetterEntry } from './dead-letter-entry.ts'
import { DeadLetterStore } from './dead-letter-store.ts'
import type { DeadLetterPayloads } from './dead-letter-payloads.ts'
import { DLQ_PAYLOADS_BUCKET } from '../settle/dead-letter.ts'
import { replayMessage, type ReplayMessage } from './replay-message.ts'

/** Options of {@link DeadLetters.open}. */
export interface OpenDeadLettersOptions {
  jsm: JetStreamManager
  js: JetStreamClient
  /** Reads and removes payloads kept in Object Store (claim check). */
  payloads: DeadLetterPayloads
  registry: Registry
  /** The DLQ stream, `dlq.stream` of `fn.config.ts` (default `FN_DLQ`). */
  dlqStream: string
  fn: string
  /** How long to wait for JetStream to confirm a replayed publish, ms. Default 5 000. */
  publishTimeoutMs?: number
}

/** Which dead letters a replay or purge takes. */
export type DeadLetterSelection = { seqs: readonly number[] } | { all: true }

/** One dead letter replayed (or, in a dry run, that would be). */
export interface ReplayResult {
  dlqSeq: number
  subject: string
  /** Payload size in bytes. */
  size: number
  msgId: string
  /** Where JetStream stored the replayed message; undefined in a dry run. */
  stored?: { stream: string; seq: number; duplicate: boolean }
}

export class DeadLetters {
  readonly #store: DeadLetterStore
  readonly #js: JetStreamClient
  readonly #timeoutMs: number
  readonly #payloads: DeadLetterPayloads
  /** The deployed manifest; undefined when the function is not deployed (only its dead letters remain). */
  readonly manifest: FunctionManifest | undefined

  private constructor(store: DeadLetterStore, js: JetStreamClient, payloads: DeadLetterPayloads, manifest: FunctionManifest | undefined, timeoutMs: number) {
    this.#store = store
    this.#payloads = payloads
    this.#js = js
    this.manifest = manifest
    this.#timeoutMs = timeoutMs
  }

  /**
   * Opens a function's dead letters.
   * @throws FnError `FN_USAGE_INVALID` for a name no function can have; `FN_FUNCTION_NOT_FOUND`
   *   when the function is neither deployed nor has dead letters.
   */
  static async open(o: OpenDeadLettersOptions): Promise<DeadLetters> {
    // A name with '.', '*' or '>' would make `fn.dlq.<name>` another function's subject or a wildcard.
    const problem = functionNameProblem(o.fn)
    if (problem) throw new FnError(FnErrorCode.UsageInvalid, `function name '${o.fn}' ${problem}`)
    const store = new DeadLetterStore({ jsm: o.jsm, js: o.js, stream: o.dlqStream, fn: o.fn })
    const manifest = await o.registry.get(o.fn)
    if (!manifest && (await store.lastSeq()) === undefined) {
      throw new FnError(FnErrorCode.FunctionNotFound, `no function named '${o.fn}' is deployed or has dead letters in ${o.dlqStream}`, {
        hint: 'run `fn ls` to see what is deployed',
      })
    }
    return new DeadLetters(store, o.js, o.payloads, manifest, o.publishTimeoutMs ?? 5_000)
  }

  get fn(): string {
    return this.#store.fn
  }

  get stream(): string {
    return this.#store.stream
  }

  /** The DLQ sequence of the function's newest dead letter; undefined when it has none. */
  lastSeq(): Promise<number | undefined> {
    return this.#store.lastSeq()
  }

  /** How many dead letters the function has now. */
  count(): Promise<number> {
    return this.#store.count()
  }

  /** The function's dead letters, oldest first, headers only (payloads stay on the server). */
  list(): AsyncGenerator<DeadLetterEntry> {
    return this.#store.entries({ headersOnly: true })
  }

  /**
   * One dead letter with its payload.
   * @throws FnError `FN_USAGE_INVALID` when `seq` is not one of this function's dead letters.
   */
  async show(seq: number): Promise<DeadLetterEntry> {
    const entry = await this.#store.get(seq)
    if (!entry) throw this.#notDeadLetter(seq)
    return this.#withObjects(entry)
  }

  /** The entry with its payload (and undecodable header block) read back from Object Store, where they were kept there. */
  async #withObjects(entry: DeadLetterEntry): Promise<DeadLetterEntry> {
    if (entry.payloadObject === undefined && entry.rawHeadersObject === undefined) return entry
    const read = async (name: string, what: string): Promise<Uint8Array> => {
      const data = await this.#payloads.get(name)
      if (data === undefined) {
        throw new FnError(FnErrorCode.Internal, `the ${what} of dead letter ${entry.seq} of '${this.fn}' is missing from Object Store ${DLQ_PAYLOADS_BUCKET} (object '${name}')`, {
          hint: `\`fn dlq purge ${this.fn} --seq ${entry.seq}\` removes the dead letter`,
        })
      }
      return data
    }
    const out = { ...entry }
    if (entry.payloadObject !== undefined) out.data = await read(entry.payloadObject, 'payload')
    if (entry.rawHeadersObject !== undefined) out.rawHeaders = await read(entry.rawHeadersObject, 'header block')
    return out
  }

  /** Removes what a dead letter keeps in Object Store, once the dead letter itself is gone. */
  async #deleteObjects(entry: DeadLetterEntry): Promise<void> {
    for (const name of [entry.payloadObject, entry.rawHeadersObject]) if (name !== undefined) await this.#payloads.delete(name)
  }

  /**
   * Replays dead letters, oldest first: publishes each to its original subject, waits for
   * JetStream to confirm, and only then deletes the dead letter. With `all`, only the dead letters
   * present when the replay starts are taken, so one that fails again and comes back is not
   * replayed twice. Named sequences are all checked before the first is replayed. A dry run checks
   * and reports the same, and changes nothing. Results are yielded as each replay completes.
   */
  async *replay(sel: DeadLetterSelection, opts: { dryRun?: boolean } = {}): AsyncGenerator<ReplayResult> {
    const entries = 'all' in sel ? this.#store.entries() : await this.#named(sel.seqs, { forReplay: true })
    for await (const stored of entries) {
      const entry = opts.dryRun ? stored : await this.#withObjects(stored)
      const msg = replayMessage(entry, this.stream)
      if (opts.dryRun) {
        yield result(msg)
        continue
      }
      const replayed = await this.#replayOne(msg)
      await this.#deleteObjects(entry)
      yield { ...result(msg), stored: replayed }
    }
  }

  /**
   * Removes the named dead letters (all checked first), or every one of the function's; returns
   * how many were removed. A dry run returns how many would be.
   */
  async purge(sel: DeadLetterSelection, opts: { dryRun?: boolean } = {}): Promise<number> {
    if ('all' in sel) {
      if (opts.dryRun) return this.#store.count()
      const purged = await this.#store.purge()
      await this.#payloads.deleteByPrefix(`dlq:${this.fn}:`)
      return purged
    }
    const entries = await this.#named(sel.seqs, { forReplay: false })
    if (opts.dryRun) return entries.length
    let removed = 0
    for (const e of entries) {
      if (await this.#store.delete(e.seq)) removed++
      await this.#deleteObjects(e)
    }
    return removed
  }

  async #replayOne(msg: ReplayMessage): Promise<{ stream: string; seq: number; duplicate: boolean }> {
    let ack
    try {
      ack = await this.#js.publish(msg.subject, msg.data, { headers: msg.headers, msgID: msg.msgId, timeout: this.#timeoutMs })
    } catch (err) {
      throw new FnError(FnErrorCode.Internal, `dead letter ${msg.dlqSeq} could not be replayed to '${msg.subject}': ${(err as Error).message}`, {
        cause: err,
        hint: `it is still in ${this.stream}; check that a stream captures '${msg.subject}'`,
      })
    }
    try {
      await this.#store.delete(msg.dlqSeq)
    } catch (err) {
      throw new FnError(
        FnErrorCode.Internal,
        `dead letter ${msg.dlqSeq} was replayed (${ack.stream} seq ${ack.seq}) but could not be deleted from ${this.stream}: ${(err as Error).message}`,
        { cause: err, hint: `replaying it again within the duplicate window of ${ack.stream} stores it only once; or \`fn dlq purge ${this.fn} --seq ${msg.dlqSeq}\`` },
      )
    }
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate }
  }

  /** The named dead letters, oldest first, once each; throws naming the first seq that is not one. */
  async #named(seqs: readonly number[], opts: { forReplay: boolean }): Promise<DeadLetterEntry[]> {
    const unique = [...new Set(seqs)].sort((a, b) => a - b)
    const out: DeadLetterEntry[] = []
    for (const seq of unique) {
      const entry = await this.#store.get(seq)
      if (!entry) throw this.#notDeadLetter(seq)
      // A replay needs somewhere to go; check every one before the first is replayed.
      if (opts.forReplay) replayMessage(entry, this.stream)
      out.push(entry)
    }
    return out
  }

  #notDeadLetter(seq: number): FnError {
    return new FnError(FnErrorCode.UsageInvalid, `seq ${seq} is not a dead letter of '${this.fn}' in ${this.stream}`, {
      hint: `run \`fn dlq ls ${this.fn}\` to see its dead letters`,
    })
  }
}

function result(msg: ReplayMessage): ReplayResult {
  return { dlqSeq: msg.dlqSeq, subject: msg.subject, size: msg.data.length, msgId: msg.msgId }
}
