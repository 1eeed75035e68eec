/**
 * Which thread gets a batch, pure: the one with the fewest messages outstanding. piscina's own
 * balancer counts tasks, not messages, and a task still counts until its last outcome is in:
 * after a thread streamed the outcomes of a long CPU-bound batch it looked as busy as one still
 * running, so new batches piled onto one thread while the other idled (the 1 ms CPU case ran at
 * 1.2x of one thread on two).
 */

/** A thread as the balancer sees it (piscina's worker handle has these). */
export interface BalancedThread {
  id: number
  terminating: boolean
  destroyed: boolean
  /** Tasks piscina has on it: the tie-breaker. */
  currentUsage: number
}

/** The least loaded live thread; ties go to the one with fewer tasks. Null when none is live. */
export function pickThread<T extends BalancedThread>(threads: readonly T[], load: (id: number) => number): T | null {
  let best: T | null = null
  let bestLoad = Number.POSITIVE_INFINITY
  for (const t of threads) {
    if (t.terminating || t.destroyed) continue
    const l = load(t.id)
    if (l < bestLoad || (l === bestLoad && best !== null && t.currentUsage < best.currentUsage)) {
      best = t
      bestLoad = l
    }
  }
  return best
}

/** Messages given to each thread (by threadId) whose outcome has not come back. */
export class ThreadLoad {
  readonly #load = new Map<number, number>()

  of(threadId: number): number {
    return this.#load.get(threadId) ?? 0
  }

  /** Threads with nothing outstanding among `threads` (read once per dispatch: no copy made). */
  idle(threads: readonly { threadId: number }[]): number {
    let n = 0
    for (const t of threads) if (!this.#load.has(t.threadId)) n++
    return n
  }

  add(threadId: number, messages: number): void {
    this.#load.set(threadId, this.of(threadId) + messages)
  }

  /** One message of the thread reported its outcome. */
  done(threadId: number): void {
    const left = (this.#load.get(threadId) ?? 1) - 1
    if (left > 0) this.#load.set(threadId, left)
    else this.#load.delete(threadId)
  }
}
