/**
 * The messages one function holds in this replica (running, queued or being settled), kept alive
 * while held: every held message gets a keep-alive (`+WPI`) at least once per period, so that
 * `ack_wait` never expires while it is held, whatever the handler does.
 */

export class HeldSet<T extends { lastSeenAt: number }> {
  readonly #items = new Set<T>()
  readonly #keepAlive: (item: T) => void
  #timer: NodeJS.Timeout | undefined
  #periodMs = 0
  #empty: (() => void) | undefined

  /** `keepAlive` tells the server one message is still being worked on. */
  constructor(keepAlive: (item: T) => void) {
    this.#keepAlive = keepAlive
  }

  get size(): number {
    return this.#items.size
  }

  /** The keep-alive period, ms (0 while stopped). */
  get periodMs(): number {
    return this.#periodMs
  }

  add(item: T): void {
    this.#items.add(item)
  }

  values(): T[] {
    return [...this.#items]
  }

  delete(group: readonly T[]): void {
    for (const item of group) this.#items.delete(item)
    if (this.#items.size === 0 && this.#empty) {
      this.#empty()
      this.#empty = undefined
    }
  }

  /** Resolves true once nothing is held, or false after `timeoutMs`. */
  async waitEmpty(timeoutMs: number): Promise<boolean> {
    if (this.#items.size === 0) return true
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
