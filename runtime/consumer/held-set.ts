/**
 * The messages one function holds in this replica (running, queued or being settled), kept alive
 * while held: every held message gets a keep-alive (`+WPI`) at least once per period, so that
 * `ack_wait` never expires while it is held, whatever the handler does.
 */

/** What a held item carries: when it was last kept alive, and its place in the set (kept by the set). */
export interface HeldItem {
  lastSeenAt: number
  /** Its index in the set while held, -1 (or unset) otherwise. */
  heldAt?: number
}

/**
 * An array with each item's index on the item, not a `Set`: adding a fresh object to a `Set`
 * gives it an identity hash, and with one add and one delete per message the `Set` cost 5 % of
 * the main thread in a no-op drain (profiled).
 */
export class HeldSet<T extends HeldItem> {
  readonly #items: T[] = []
  readonly #keepAlive: (item: T) => void
  #timer: NodeJS.Timeout | undefined
  #periodMs = 0
  #empty: (() => void) | undefined

  /** `keepAlive` tells the server one message is still being worked on. */
  constructor(keepAlive: (item: T) => void) {
    this.#keepAlive = keepAlive
  }

  get size(): number {
    return this.#items.length
  }

  /** The keep-alive period, ms (0 while stopped). */
  get periodMs(): number {
    return this.#periodMs
  }

  /** Adds an item not held yet. */
  add(item: T): void {
    if (item.heldAt !== undefined && item.heldAt >= 0) return
    item.heldAt = this.#items.push(item) - 1
  }

  values(): T[] {
    return this.#items.slice()
  }

  /** Removes each item of `group` that is held (in any order; the rest keep theirs but the last moves). */
  delete(group: readonly T[]): void {
    const items = this.#items
    for (const item of group) {
      const at = item.heldAt
      if (at === undefined || at < 0 || items[at] !== item) continue
      const last = items.pop()!
      if (last !== item) {
        items[at] = last
        last.heldAt = at
      }
      item.heldAt = -1
    }
    if (items.length === 0 && this.#empty) {
      this.#empty()
      this.#empty = undefined
    }
  }

  /** Resolves true once nothing is held, or false after `timeoutMs`. */
  async waitEmpty(timeoutMs: number): Promise<boolean> {
    if (this.#items.length === 0) return true
    let timer: NodeJS.Timeout | undefined
    const empty = new Promise<boolean>((resolve) => (this.#empty = () => resolve(true)))
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))
    const result = await Promise.race([empty, timeout])
    clearTimeout(timer)
    return result
  }

  /** (Re)starts keep-alives every `periodMs`; everything held gets one now, so a shorter period takes effect at once. */
  keepAlive(periodMs: number): void {
    clearInterval(this.#timer)
    this.#periodMs = periodMs
    this.#beat(0)
    this.#timer = setInterval(() => this.#beat(periodMs), periodMs)
    this.#timer.unref()
  }

  stopKeepAlive(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#periodMs = 0
  }

  #beat(olderThanMs: number): void {
    const now = Date.now()
    for (const item of this.#items) {
      if (now - item.lastSeenAt >= olderThanMs) {
        item.lastSeenAt = now
        this.#keepAlive(item)
      }
    }
  }
}
