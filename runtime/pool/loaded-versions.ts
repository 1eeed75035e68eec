/**
 * Which function versions the current threads have loaded, pure bookkeeping. An ES module cannot
 * be unloaded: every version a thread ever imported stays in its heap, so a replica that follows
 * many deploys grows with each one. The pool replaces its threads once enough retired versions
 * (loaded, but no longer the one deployed) have piled up.
 */

/** Retired versions the threads may hold before they are replaced. */
export const RECYCLE_AFTER_RETIRED = 16

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

  /** True when the threads should be replaced. */
  get shouldRecycle(): boolean {
    return this.#retired >= RECYCLE_AFTER_RETIRED
  }

  /** New threads have nothing loaded. */
  reset(): void {
    this.#byFn.clear()
    this.#retired = 0
  }
}
