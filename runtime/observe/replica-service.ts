/**
 * Every replica registers with the NATS services framework (`@nats-io/services`, the protocol of
 * `nats micro`): `nats micro ls` lists the replicas as service `jetfn`, `nats micro info jetfn`
 * shows each one's functions (one endpoint per function, its version, subject and stream in the
 * endpoint's metadata), and `nats micro stats jetfn` the counts per function (`data` of each
 * endpoint: ok, retried, dead-lettered, in flight, average run time).
 *
 * A function's endpoint is `fn.status.<function>`: a request there is answered by one replica
 * (queue group) with the same figures. The framework cannot remove an endpoint, so when the
 * functions or their versions change the replica registers anew (a new service id).
 */
import { readFileSync } from 'node:fs'
import { Svcm, type Service, type ServiceMsg } from '@nats-io/services'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { FunctionTotals } from './metrics.ts'

/** Name of the service every replica registers as. */
export const SERVICE_NAME = 'jetfn'

/** Subject of a function's status endpoint. */
export const statusSubject = (fn: string): string => `fn.status.${fn}`

/** How often the functions are compared with what is registered, ms. */
const RECONCILE_MS = 1_000

// runtime/observe/ and dist/observe/ are both two levels under the package root.
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** What the service reads from the running replica. */
export interface ServiceSource {
  readonly id: string
  readonly functions: string[]
  running(name: string): { version: string; subject: string; stream: string } | undefined
  held(name: string): number
}

/** A function's figures in this replica: the `data` of its endpoint's stats and its endpoint's answer. */
export interface FunctionServiceStats {
  version: string
  ok: number
  retried: number
  deadLettered: number
  inFlight: number
  /** Mean handler run time, ms; null before the first run. */
  averageMs: number | null
}

/** A replica's registration with the NATS services framework, kept in step with the functions it runs. */
export class ReplicaService {
  readonly #nc: NatsConnection
  readonly #source: ServiceSource
  readonly #totals: (fn: string) => FunctionTotals | undefined
  readonly #log: Logger
  #service: Service | undefined
  #registered = ''
  #timer: NodeJS.Timeout | undefined
  #busy: Promise<void> = Promise.resolve()
  #stopped = false

  constructor(opts: { nc: NatsConnection; source: ServiceSource; totals: (fn: string) => FunctionTotals | undefined; log: Logger }) {
    this.#nc = opts.nc
    this.#source = opts.source
    this.#totals = opts.totals
    this.#log = opts.log
  }

  /** Registers now, then follows the replica's functions. Never throws: a refusal is logged. */
  async start(): Promise<void> {
    await this.#reconcile()
    this.#timer = setInterval(() => {
      this.#busy = this.#busy.then(() => this.#reconcile())
    }, RECONCILE_MS)
    this.#timer.unref()
  }

  /** The figures of one function in this replica. */
  stats(fn: string): FunctionServiceStats {
    const t = this.#totals(fn)
    return {
      version: this.#source.running(fn)?.version ?? '',
      ok: t?.ok ?? 0,
      retried: t?.retried ?? 0,
      deadLettered: t?.deadLettered ?? 0,
      inFlight: this.#source.held(fn),
      averageMs: t && t.count > 0 ? t.sumMs / t.count : null,
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    await this.#busy
    await this.#unregister()
  }

  /** The functions and versions now, as one string: registered anew when it changes. */
  #signature(): string {
    return this.#source.functions
      .sort()
      .map((fn) => `${fn}@${this.#source.running(fn)?.version ?? ''}`)
      .join(',')
  }

  async #reconcile(): Promise<void> {
    if (this.#stopped || this.#nc.isClosed()) return
    const signature = this.#signature()
    if (this.#service && signature === this.#registered) return
    try {
      await this.#unregister()
      this.#service = await this.#register()
      this.#registered = signature
    } catch (err) {
      // Not registered is not a reason to stop serving messages (a user without `$SRV` permissions).
      this.#log.warn({ err }, 'could not register with the NATS services framework; tried again in a second')
    }
  }

  async #register(): Promise<Service> {
    const service = await new Svcm(this.#nc).add({
      name: SERVICE_NAME,
      version: VERSION,
      description: 'jetfn replica: runs functions on JetStream messages',
      metadata: { replica: this.#source.id },
      statsHandler: (endpoint) => Promise.resolve(endpoint.metadata?.function ? this.stats(endpoint.metadata.function) : null),
    })
    for (const fn of this.#source.functions) {
      const running = this.#source.running(fn)
      if (!running) continue
      service.addEndpoint(fn, {
        subject: statusSubject(fn),
        metadata: { function: fn, version: running.version, subject: running.subject, stream: running.stream },
        handler: (err: Error | null, msg: ServiceMsg) => {
          if (err) return this.#log.warn({ err, fn }, 'service endpoint failed')
          msg.respond(JSON.stringify({ replica: this.#source.id, function: fn, ...this.stats(fn) }))
        },
      })
    }
    this.#log.debug({ id: service.info().id, functions: this.#source.functions }, 'registered with the NATS services framework')
    return service
  }

  async #unregister(): Promise<void> {
    const service = this.#service
    this.#service = undefined
    if (!service || service.isStopped) return
    await service.stop().catch((err: unknown) => this.#log.debug({ err }, 'service stop failed'))
  }
}
