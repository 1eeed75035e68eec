/**
 * Groups the acks of plain successes, so that each group is confirmed once (see Settler.ack). A
 * group costs a socket write and a round trip on both sides and holds its messages' room until
 * confirmed, so it goes out at once at {@link ACK_GROUP} acks, at the end of this event-loop turn
 * once {@link ACK_SOON} wait (a busy function), and otherwise {@link ACK_DELAY_MS} after its
 * first ack: the outcomes of CPU-bound batches trickle in one or two at a time, and acking each
 * as it came cost the main thread a write per message.
 */

/** Acks confirmed as one group at most. */
export const ACK_GROUP = 256
/** At this many waiting acks (fewer for a function of low concurrency, see AckBatcher), the group goes out at the end of the turn. */
export const ACK_SOON = 32
/** How long fewer acks may wait, ms. */
export const ACK_DELAY_MS = 5

export class AckBatcher<T> {
  readonly #send: (group: T[]) => void
  readonly #soonAt: () => number
  #acks: T[] = []
  #timer: NodeJS.Timeout | undefined
  #soon = false

  /**
   * `send` gets each group once; it owns the array. `concurrency` (the function's, now): a group
   * goes out at the end of the turn once a quarter of it waits, when that is fewer than
   * {@link ACK_SOON}: at `concurrency` 8, waiting for 32 acks meant always waiting the full delay,
   * and a message killed with its replica meanwhile runs again.
   */
  constructor(send: (group: T[]) => void, concurrency: () => number = () => Number.POSITIVE_INFINITY) {
    this.#send = send
    this.#soonAt = () => Math.min(ACK_SOON, Math.max(1, Math.ceil(concurrency() / 4)))
  }

  /** Acks waiting to go out. */
  get waiting(): number {
    return this.#acks.length
  }

  add(item: T): void {
    this.#acks.push(item)
    if (this.#acks.length >= ACK_GROUP) {
      this.flush()
    } else if (this.#acks.length >= this.#soonAt()) {
      if (!this.#soon) {
        this.#soon = true
        setImmediate(() => {
          this.#soon = false
          this.flush()
        })
      }
    } else {
      this.#timer ??= setTimeout(() => this.flush(), ACK_DELAY_MS)
    }
  }

  /** Sends what waits now. */
  flush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const group = this.#acks
    if (group.length === 0) return
    this.#acks = []
    this.#send(group)
  }
}
