/**
 * The replays (`fn replay`) a replica runs: one consumer per replay, beside the function's own,
 * on the same version and pool. A replay ends when its consumer's ack floor passes the last
 * sequence it re-runs (or its consumer is gone): the replica stops it. Replicas never write the
 * registry: `fn replay --wait`, the next `fn replay` and `fn deploy` remove the finished replay's
 * consumer and manifest entry (a replay consumer no one pulls is also removed by the server after
 * a day).
 */
import type { JetStreamManager } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { FunctionConsumer, RunnableFunction } from '../consumer/function-consumer.ts'
import type { ReplayRun } from '../deploy/manifest.ts'
import { replayProgress } from '../deploy/replay-function.ts'

/** Options of {@link ReplayRunner}. */
export interface ReplayRunnerOptions {
  log: Logger
  jsm: () => JetStreamManager
  /** Builds (not starts) the consumer of a replay. */
  consumer: (fn: RunnableFunction, run: ReplayRun) => FunctionConsumer
  graceMs: number
}

interface Running {
  fn: string
  stream: string
  run: ReplayRun
  consumer: FunctionConsumer
}

export class ReplayRunner {
  readonly #o: ReplayRunnerOptions
  readonly #running = new Map<string, Running>()

  constructor(opts: ReplayRunnerOptions) {
    this.#o = opts
  }

  /** Runs exactly `runs` of a function, on `fn` (started, updated, or stopped as needed). */
  async sync(fn: RunnableFunction, runs: readonly ReplayRun[]): Promise<void> {
    const wanted = new Set(runs.map((r) => r.consumer))
    for (const [name, r] of this.#running) if (r.fn === fn.name && (!wanted.has(name) || r.stream !== fn.stream)) await this.#stop(name)
    for (const run of runs) {
      const running = this.#running.get(run.consumer)
      if (running) {
        running.consumer.update(fn)
        continue
      }
      if ((await replayProgress(this.#o.jsm(), fn.stream, run)).finished) continue
      const consumer = this.#o.consumer(fn, run)
      this.#running.set(run.consumer, { fn: fn.name, stream: fn.stream, run, consumer })
      consumer.start()
      this.#o.log.info({ fn: fn.name, replay: run.id, consumer: run.consumer, throughSeq: run.throughSeq, count: run.count }, 'replay running')
    }
  }

  /** Stops every replay of a function (removed, or stopped by its replica). */
  async stopFunction(name: string): Promise<void> {
    for (const [consumer, r] of this.#running) if (r.fn === name) await this.#stop(consumer)
  }

  /** Stops replays that have run to their end. */
  async check(): Promise<void> {
    for (const [consumer, r] of this.#running) {
      const progress = await replayProgress(this.#o.jsm(), r.stream, r.run).catch(() => undefined)
      if (!progress?.finished) continue
      await this.#stop(consumer)
      this.#o.log.info({ fn: r.fn, replay: r.run.id, count: r.run.count }, 'replay finished')
    }
  }

  /** What each replay holds now, for the shutdown report. */
  held(): Array<{ fn: string; stream: string; seqs: number[] }> {
    return [...this.#running.values()].map((r) => ({ fn: `${r.fn} (replay ${r.run.id})`, stream: r.stream, seqs: r.consumer.heldSeqs() }))
  }

  /** Stops them all (shutdown). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#running.keys()].map((c) => this.#stop(c)))
  }

  /** Passes a reconnect on to each replay's pull. */
  resetPulls(reason: string): void {
    for (const r of this.#running.values()) r.consumer.resetPull(reason)
  }

  async #stop(consumer: string): Promise<void> {
    const r = this.#running.get(consumer)
    if (!r) return
    this.#running.delete(consumer)
    await r.consumer.drain(this.#o.graceMs)
  }
}
