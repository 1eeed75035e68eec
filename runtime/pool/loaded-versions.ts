/**
 * Which function versions the current threads have loaded, pure bookkeeping. An ES module cannot
 * be unloaded: every version a thread ever imported stays in its heap, so a replica that follows
 * many deploys grows with each one. The pool replaces its threads once the retired versions
 * (loaded, but no longer the one deployed) outnumber the live ones, and at the earliest after
 * {@link RECYCLE_AFTER_RETIRED}: retired code then never weighs more than the live code (or four
 * versions of it), and a deploy of many functions at once costs one recycle, not one per function.
 *
 * Measured (`scripts/redeploy-rss.ts`, one function bundling zod, 2 threads): each version a
 * thread keeps costs about 2.9 MiB; with a fixed 16 the RSS climbed to 1.67x of the first
 * deploy's before each recycle, with this rule it stays within 1.2x.
 */

/** The fewest retired versions that trigger a recycle (one function redeployed again and again). */
export const RECYCLE_AFTER_RETIRED = 4

export class LoadedVersions {
  /** Per function: every bundle loaded in this generation of threads, the latest last. */
  readonly #byFn = new Map<string, string[]>()
  #retired = 0

  /** Versions loaded that are no longer any function's latest. */
  get retired(): number {
    return this.#retired
  }

  /** A function's bundle is loaded (or about to be) and is now its latest version. */
  loaded(fn: string, bundlePath: string): void {
    const list = this.#byFn.get(fn)
    if (!list) {
      this.#byFn.set(fn, [bundlePath])
      return
    }
    const at = list.indexOf(bundlePath)
    if (at === list.length - 1) return
    if (at >= 0) list.splice(at, 1)
    else this.#retired++
    list.push(bundlePath)
  }

  /** Versions loaded that are some function's latest. */
  get live(): number {
    return this.#byFn.size
  }

  /** True when the threads should be replaced. */
  get shouldRecycle(): boolean {
    return this.#retired >= Math.max(RECYCLE_AFTER_RETIRED, this.#byFn.size)
  }

  /** Each function's latest bundle, as `[fn, bundlePath]`: what a new generation of threads loads before it takes over. */
  latest(): Array<[string, string]> {
    return [...this.#byFn].map(([fn, list]) => [fn, list[list.length - 1]!])
  }

  /** New threads have nothing loaded. */
  reset(): void {
    this.#byFn.clear()
    this.#retired = 0
  }
}
