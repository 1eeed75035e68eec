/**
 * Flow-control policy of one function in one replica, pure: how many messages it may hold and ask
 * for, and how a dispatch is cut into batches for the pool's threads. Everything here is a
 * function of the function's current options, its measured pace and the pool's state, so a
 * redeploy that changes `concurrency` changes the plan on the next call (a pull size fixed at
 * construction once left running replicas idle after `concurrency` was lowered).
 */

/** How long one batch's synchronous work may hold a thread, ms; sets the batch size of CPU-bound functions (20 ms: 1.41k msg/s in the 1 ms CPU case; 50 ms: 1.6k, fewer thread hops and wake-ups). */
export const BATCH_BLOCKING_MS = 50
/** Before a function's blocking time is known, dispatches of fewer messages per thread than this go to one thread. */
const MIN_SPLIT = 8
/** A dispatch is split over threads only with at least this much blocking work per thread, ms. */
const SPLIT_MIN_MS = 1
/** Largest batch handed to one thread by default. */
export const DEFAULT_MAX_BATCH = 256

/** What a replica may hold of a function, and the smallest pull worth sending. */
export interface HoldLimits {
  /** Prefetch beyond `concurrency`: a quarter of it (at least 1), more for a fast function (see {@link holdLimits}). */
  prefetch: number
  /** Most messages held (running, queued or being settled) or asked for. */
  limit: number
  /** Smallest pull worth sending; smaller gaps wait until more slots free up. */
  minPull: number
}

/** How fast a function's messages go, as measured in this replica. */
export interface FunctionPace {
  /** Mean handler run time, ms. */
  meanMs: number
  /** Mean payload size, bytes. */
  meanBytes: number
}

/** A fast function's prefetch holds this much work for its slots, ms. */
export const PREFETCH_MS = 10
/** Most messages prefetched beyond `concurrency`, however fast the function. */
export const MAX_PREFETCH = 1_000
/** Most payload bytes a fast function's prefetch holds (a bound on memory beside the count). */
export const MAX_PREFETCH_BYTES = 16 * 1024 * 1024

/**
 * How many messages a replica may hold of a function. The prefetch is a quarter of `concurrency`
 * (at least 1) until the function's pace is known; then, for a fast function, enough to keep every
 * slot busy for {@link PREFETCH_MS} (at most {@link MAX_PREFETCH} messages and
 * {@link MAX_PREFETCH_BYTES} of payload). With a fixed quarter, a no-op function at the default
 * `concurrency` of 8 held 10 messages, and each pull, hop to a thread and confirmed ack cost a
 * round trip per 10: it drained at 1,369 msg/s.
 */
export function holdLimits(concurrency: number, pace?: FunctionPace): HoldLimits {
  let prefetch = Math.max(1, Math.ceil(concurrency / 4))
  if (pace) {
    const forTime = Math.ceil((concurrency * PREFETCH_MS) / Math.max(pace.meanMs, 0.001))
    const forBytes = Math.floor(MAX_PREFETCH_BYTES / Math.max(1, pace.meanBytes))
    prefetch = Math.max(prefetch, Math.min(forTime, forBytes, MAX_PREFETCH))
  }
  const limit = concurrency + prefetch
  return { prefetch, limit, minPull: Math.max(1, Math.floor(limit / 8)) }
}

/**
 * Batches carry messages beyond their slots only for a function whose mean run time is at most
 * this, ms: a message waiting in a worker waits for its own batch's slots, not for the first slot
 * free anywhere, which costs a fast function nothing and a slow, uneven one its latency.
 */
export const FILL_MAX_MS = 10

/** One batch for a thread: `count` messages, of which at most `slots` run at once. */
export interface PlannedBatch {
  count: number
  slots: number
}

/**
 * Gives each planned batch (`sizes`, each all slots) queued messages beyond its slots, up to
 * `maxBatch` messages a batch, from `extra` waiting: a fast function's queue then reaches the
 * threads in a few large batches whose handlers take turns on the slots there, rather than in
 * batches as small as the free slots (each a hop to a thread and back).
 */
export function fillBatches(sizes: readonly number[], extra: number, maxBatch: number): PlannedBatch[] {
  const out: PlannedBatch[] = []
  let left = extra
  for (let i = 0; i < sizes.length; i++) {
    const slots = sizes[i]!
    const share = Math.ceil(left / (sizes.length - i))
    const more = Math.max(0, Math.min(share, maxBatch - slots))
    left -= more
    out.push({ count: slots + more, slots })
  }
  return out
}

/** The largest batch for one thread: `maxBatch`, fewer for a CPU-bound function. */
export function batchCap(blockingMs: number | undefined, maxBatch = DEFAULT_MAX_BATCH): number {
  return Math.min(maxBatch, blockingMs ? Math.max(1, Math.floor(BATCH_BLOCKING_MS / blockingMs)) : Number.POSITIVE_INFINITY)
}

/** The state a dispatch is planned from. */
export interface DispatchState {
  /** The function's concurrency minus what runs now. */
  free: number
  /** Messages queued in the replica, waiting for a slot. */
  queued: number
  /** Messages of the function running now. */
  running: number
  /** How long starting one message blocks a thread, ms; undefined before it is measured. */
  blockingMs: number | undefined
  threads: number
  idleThreads: number
  /** Largest batch for one thread. Default {@link DEFAULT_MAX_BATCH}. */
  maxBatch?: number
}

/**
 * The batch sizes to dispatch now, in order (their sum is what leaves the queue); empty to wait.
 *
 * Batches spare each message a thread hop of its own, but a batch's handlers start one after
 * another on one thread, so a batch of CPU-bound handlers is kept to {@link BATCH_BLOCKING_MS}
 * of work. While every thread has a full batch ahead, a CPU-bound function waits for a full
 * batch: freed slots trickle in one outcome at a time, and sending each on its own cost a thread
 * hop and a wake-up per message (5,748 batches for 8,000 messages in the 1 ms CPU case). A
 * dispatch is spread over threads only when it carries enough work to keep more than one busy;
 * otherwise it goes whole to the least loaded thread.
 */
export function planDispatch(s: DispatchState): number[] {
  if (s.free <= 0 || s.queued === 0) return []
  const maxBatch = batchCap(s.blockingMs, s.maxBatch)
  const n = Math.min(s.free, s.queued)
  if (s.blockingMs && n < maxBatch && s.idleThreads === 0 && s.running * s.blockingMs >= s.threads * BATCH_BLOCKING_MS) return []
  const worth = s.blockingMs === undefined ? Math.floor(n / MIN_SPLIT) : Math.floor((n * s.blockingMs) / SPLIT_MIN_MS)
  const spread = s.blockingMs === undefined ? s.threads : Math.max(1, s.idleThreads)
  const chunks = Math.max(1, Math.min(spread, worth), Math.ceil(n / maxBatch))
  const size = Math.ceil(n / chunks)
  const out: number[] = []
  for (let left = n; left > 0; left -= size) out.push(Math.min(size, left))
  return out
}

/** How often held messages are kept alive (`+WPI`), ms: a third of `ack_wait`, at least 250. */
export function keepAliveMs(ackWaitMs: number): number {
  return Math.max(250, Math.floor(ackWaitMs / 3))
}
