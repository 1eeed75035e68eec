/**
 * How a replica gets the durable consumer of each function it runs. A provisioning replica (the
 * default) creates or updates it to match the function, recreates one lost under it after the
 * last ack floor seen, and removes the old one when the function moves to another stream. A
 * bind-only replica (`fn start --bind-only`, `provision: false`) only binds: it reads the
 * consumer, and when it is missing the function is not ready (`/readyz` says why, the log says it
 * once) until `fn deploy` creates it. It never creates, updates or deletes a consumer.
 */
import type { JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import type { RunnableFunction } from '../function/runnable-function.ts'
import { consumerConfig, consumerName, consumerSpec, ensureConsumer } from '../nats/ensure-consumer.ts'
import { isNotFound } from '../nats/ensure-stream.ts'

/** Options of {@link ConsumerBinding}. */
export interface ConsumerBindingOptions {
  jsm: () => JetStreamManager
  /** Create, update and delete consumers (true), or only bind to them (false). */
  provision: boolean
}

/** One replica's way with its consumers: provisioning or bind-only (see the module). */
export class ConsumerBinding {
  readonly #o: ConsumerBindingOptions
  /** Bind-only: functions whose consumer was lost under them, with the reason, until it is back. */
  readonly #missing = new Map<string, string>()
  /** Bind-only: functions whose consumer differs from their options, already warned about. */
  readonly #warned = new Set<string>()

  constructor(opts: ConsumerBindingOptions) {
    this.#o = opts
  }

  get provision(): boolean {
    return this.#o.provision
  }

  /** Why functions cannot run here now (empty when they all can): for `/readyz`. */
  problems(): string[] {
    return [...this.#missing.values()]
  }

  /**
   * Makes the function's consumer ready before it runs here; returns the consumer's ack floor.
   * @throws FnError `FN_NOT_PROVISIONED` (bind-only) when the consumer does not exist.
   */
  async prepare(fn: RunnableFunction, log: Logger): Promise<number> {
    if (this.#o.provision) return (await ensureConsumer(this.#o.jsm(), consumerSpec(fn), log)).ackFloor
    const info = await this.#info(fn)
    if (!info) throw missing(fn)
    this.#missing.delete(fn.name)
    this.#checkConfig(fn, info.config, log)
    return info.ack_floor.stream_seq
  }

  /**
   * The consumer was lost under the running function (its pull went silent or the server said it
   * was deleted). Provisioning: recreated after `floor`, never from the stream's start. Bind-only:
   * if it is back, nothing to do; if not, the function is reported not ready (logged once) and the
   * pull loop asks again at its next heartbeat check.
   */
  async recover(fn: RunnableFunction, floor: number | undefined, log: Logger): Promise<void> {
    if (this.#o.provision) {
      await ensureConsumer(this.#o.jsm(), consumerSpec(fn), log, floor)
      return
    }
    if (await this.#info(fn)) {
      if (this.#missing.delete(fn.name)) log.info({ consumer: consumerName(fn.name) }, 'consumer is back: pulling again')
      return
    }
    if (!this.#missing.has(fn.name)) {
      log.error(
        { consumer: consumerName(fn.name), stream: fn.stream, lastAckFloor: floor ?? null },
        'consumer is gone and this replica is bind-only: waiting for `fn deploy` to create it again',
      )
    }
    this.#missing.set(fn.name, `${missing(fn).message} (it was lost while running; last ack floor seen: ${floor ?? 'none'})`)
  }

  /** The function moved to another stream: its old consumer is removed (provisioning; bind-only leaves it to `fn deploy`). */
  async retire(name: string, stream: string): Promise<void> {
    this.forget(name)
    if (!this.#o.provision) return
    await this.#o.jsm().consumers.delete(stream, consumerName(name)).catch((err: unknown) => {
      // Another replica removed it first, or it is gone already: either way it is gone.
      if (!isNotFound(err)) throw err
    })
  }

  /** The function no longer runs here. */
  forget(name: string): void {
    this.#missing.delete(name)
    this.#warned.delete(name)
  }

  async #info(fn: RunnableFunction) {
    try {
      return await this.#o.jsm().consumers.info(fn.stream, consumerName(fn.name))
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  }

  /** Bind-only: a consumer that differs from the function's options is used as it is, with one warning. */
  #checkConfig(fn: RunnableFunction, current: { filter_subject?: string; ack_wait?: number; max_ack_pending?: number; max_deliver?: number; priority_policy?: string }, log: Logger): void {
    const wanted = consumerConfig(consumerSpec(fn))
    const differs = (['filter_subject', 'ack_wait', 'max_ack_pending', 'max_deliver', 'priority_policy'] as const).filter((k) => (current[k] ?? 'none') !== (wanted[k] ?? 'none'))
    if (differs.length === 0) {
      this.#warned.delete(fn.name)
      return
    }
    if (this.#warned.has(fn.name)) return
    this.#warned.add(fn.name)
    log.warn({ consumer: consumerName(fn.name), fields: differs }, "consumer differs from the function's options and this replica is bind-only: used as it is until `fn deploy` updates it")
  }
}

function missing(fn: RunnableFunction): FnError {
  return new FnError(FnErrorCode.NotProvisioned, `consumer ${consumerName(fn.name)} of ${fn.name} does not exist on stream ${fn.stream}: \`fn deploy\` creates it`, {
    hint: 'this replica is bind-only (fn start --bind-only, or provision: false): it never creates consumers',
  })
}
