/**
 * How the main thread tells every worker thread of its pool that the replica is stopping, so that
 * running handlers' `ctx.signal` abort. A `BroadcastChannel` rather than `worker.postMessage()`:
 * piscina's worker takes every message on `parentPort` for its start-up message (and crashes the
 * thread on any other), and its task port is its own. The channel's name is unique per pool (several
 * pools may share a process in tests) and reaches the threads in `workerData`.
 */
import { randomUUID } from 'node:crypto'
import { BroadcastChannel } from 'node:worker_threads'

/** The `workerData` field naming a pool's shutdown channel. */
export const SHUTDOWN_CHANNEL_FIELD = 'jetfnShutdownChannel'

/** What goes over the channel. */
export interface ShutdownNotice {
  jetfnShutdown: true
  /** Why: the `message` of the error running handlers' signals abort with. */
  reason: string
}

/** The main thread's end: one per pool. */
export class ShutdownBroadcast {
  readonly name = `jetfn:shutdown:${randomUUID()}`
  #channel: BroadcastChannel | undefined

  /**
   * Tells every thread of the pool to abort its running handlers' signals with `reason`. A handler
   * that then fails is reported as `requeue` (handed back, no blame); one that still resolves is an
   * ordinary success.
   */
  send(reason: string): void {
    if (!this.#channel) {
      this.#channel = new BroadcastChannel(this.name)
      // Only ever posts: it must not keep the process alive.
      this.#channel.unref()
    }
    const notice: ShutdownNotice = { jetfnShutdown: true, reason }
    this.#channel.postMessage(notice)
  }

  close(): void {
    this.#channel?.close()
    this.#channel = undefined
  }
}

/**
 * A worker thread's end: calls `onShutdown` with the reason of each notice. The channel is unref'd:
 * an idle thread must still be free to end.
 */
export function listenForShutdown(channelName: string | undefined, onShutdown: (reason: string) => void): void {
  if (!channelName) return
  const channel = new BroadcastChannel(channelName)
  channel.unref()
  channel.onmessage = (event: unknown) => {
    const data = (event as { data?: Partial<ShutdownNotice> }).data
    if (data?.jetfnShutdown === true && typeof data.reason === 'string') onShutdown(data.reason)
  }
}
