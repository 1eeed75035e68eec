/**
 * One rate-limit bucket per function, shared by every replica: the GCRA state (one number) in KV
 * bucket `FN_RATES` under the function's name, taken with a compare-and-set so that two replicas
 * never spend the same tokens. A replica asks for a pull's worth of tokens at a time, so the KV
 * sees about ten updates per period whatever the limit (the burst is a tenth of a period).
 *
 * Clocks: each replica takes tokens at its own `Date.now()`; replicas whose clocks differ by `s`
 * ms may together exceed the limit by about `limit * s / per` (keep them in NTP sync).
 */
import { Kvm, type KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import type { JetStreamClient } from '@nats-io/jetstream'
import { takeTokens, type Rate, type Take } from './gcra.ts'

/** The KV bucket of the shared buckets. */
export const RATES_BUCKET = 'FN_RATES'

/** How many compare-and-set rounds one take may lose to other replicas before it reports a wait. */
const MAX_ROUNDS = 8

/** Opens (or, with `create`, creates) the rates bucket; `fn deploy` creates it with its JetStream client. */
export async function openRates(nc: NatsConnection | JetStreamClient, opts: { create: boolean; replicas: number }): Promise<KV> {
  const kvm = new Kvm(nc)
  // No history: a bucket's state is its last value.
  return opts.create ? kvm.create(RATES_BUCKET, { history: 1, replicas: opts.replicas }) : kvm.open(RATES_BUCKET)
}

/** The shared buckets of one replica: the KV bucket opened on first use, and again after a failure. */
export class SharedRates {
  readonly #nc: NatsConnection
  readonly #opts: { create: boolean; replicas: number }
  #kv: Promise<KV> | undefined

  /** `create`: make the bucket when it is missing (a replica that provisions); `replicas` then. */
  constructor(nc: NatsConnection, opts: { create: boolean; replicas: number }) {
    this.#nc = nc
    this.#opts = opts
  }

  /** Takes up to `want` tokens of function `fn`'s bucket. */
  async take(fn: string, want: number, rate: Rate): Promise<Take> {
    this.#kv ??= openRates(this.#nc, this.#opts)
    try {
      return await takeShared(await this.#kv, fn, want, rate)
    } catch (err) {
      this.#kv = undefined
      throw err
    }
  }
}

/** Takes up to `want` tokens of function `fn`'s shared bucket. */
export async function takeShared(kv: KV, fn: string, want: number, rate: Rate, now: () => number = Date.now): Promise<Take> {
  for (let round = 0; ; round++) {
    const entry = await kv.get(fn)
    const tat = entry && entry.operation === 'PUT' ? Number(entry.string()) || 0 : 0
    const take = takeTokens(tat, now(), want, rate)
    if (take.granted === 0) return take
    try {
      if (entry && entry.operation === 'PUT') await kv.update(fn, String(take.tat), entry.revision)
      else await kv.create(fn, String(take.tat))
      return take
    } catch (err) {
      // Another replica took tokens in between (wrong last sequence): read again.
      if (!isConflict(err) || round >= MAX_ROUNDS) throw err
    }
  }
}

function isConflict(err: unknown): boolean {
  const e = err as { message?: string; code?: unknown; api_error?: { err_code?: number } }
  const code = (err as { apiError?: () => { err_code?: number } }).apiError?.()?.err_code
  return code === 10071 || /wrong last sequence|key exists/i.test(String(e?.message ?? ''))
}
