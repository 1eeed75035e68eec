/**
 * The dashboard's JSON API under `/api/`, over the operator code that `fn ls`, `fn dlq`,
 * `fn rollback`, `fn pause` and `fn resume` run (`functionStatuses`, `DeadLetters`,
 * `rollbackFunction`, `pauseFunction`): the dashboard does nothing those commands do not.
 *
 * | route | does |
 * |---|---|
 * | `GET /api/functions` | every function: `fn ls`'s figures plus rate, p50/p99 and outcomes from the live events |
 * | `GET /api/functions/<fn>` | one function, and its versions (registry history) |
 * | `GET /api/functions/<fn>/dead-letters?kind=&q=` | its dead letters, filtered by error kind and by text in the error |
 * | `GET /api/functions/<fn>/dead-letters/<seq>` | one dead letter in full (`fn dlq show --json`) |
 * | `GET /api/functions/<fn>/tail` | the live tail, as server-sent events |
 * | `POST /api/functions/<fn>/dead-letters/replay` `{ seqs? }` | replays those (or all) |
 * | `POST /api/functions/<fn>/dead-letters/purge` `{ seqs?, confirm }` | removes those (or all); `confirm` must be the function's name |
 * | `POST /api/functions/<fn>/rollback` `{ to? }` | `fn rollback` |
 * | `POST /api/functions/<fn>/pause`, `/resume` | `fn pause`, `fn resume` |
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import { functionStatuses, type FunctionStatus } from '../../deploy/function-status.ts'
import { rollbackFunction } from '../../deploy/manage-functions.ts'
import { pauseFunction, resumeFunction } from '../../deploy/pause-function.ts'
import type { Registry } from '../../deploy/registry.ts'
import { deadLetterDetail, deadLetterSummary, type DeadLetterSummaryJson } from '../../dlq/dead-letter-json.ts'
import { DeadLetterPayloads } from '../../dlq/dead-letter-payloads.ts'
import { DeadLetters, type DeadLetterSelection } from '../../dlq/dead-letters.ts'
import { FnError, FnErrorCode } from '../../errors/fn-error.ts'
import { writeAccess, writeMode, type WriteMode } from './dashboard-access.ts'
import { FIGURES_WINDOW_MS, LiveStats, type LiveFigures } from './live-stats.ts'

/** The most dead letters one listing returns (newest first). */
const MAX_LISTED = 500
/** Largest request body accepted, bytes. */
const MAX_BODY = 64 * 1024
/** How long a dead-letter listing is reused between dashboard polls, ms. */
const LISTING_TTL_MS = 2_000
/** How long `fn ls`'s figures are reused between dashboard polls, ms. */
const STATUS_TTL_MS = 500

/** What the API works with: the replica's connection and registry. */
export interface DashboardContext {
  nc: NatsConnection
  jsm: JetStreamManager
  js: JetStreamClient
  registry: Registry
  /** `dlq.stream` of the config. */
  dlqStream: string
  /** `http.token` of the config. */
  token: string | undefined
  /** `host:pid` of the replica serving it. */
  replica: string
  log: Logger
}

/** `GET /api/functions/<fn>/dead-letters`: how many in all, the kinds seen, and the matches, newest first. */
export interface DeadLetterListing {
  total: number
  kinds: string[]
  deadLetters: DeadLetterSummaryJson[]
}

/** One function in `GET /api/functions`. */
export type FunctionView = FunctionStatus & { live: LiveFigures }

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/** Answers the dashboard's `/api/` requests (see the table above) for one replica. */
export class DashboardApi {
  readonly #c: DashboardContext
  /** Dead-letter listings by function and filter, reused for {@link LISTING_TTL_MS}: each reads every header of the function's DLQ. */
  readonly #listings = new Map<string, { at: number; value: Promise<DeadLetterListing> }>()
  readonly #live: LiveStats
  readonly #mode: WriteMode
  #statuses: { at: number; value: Promise<FunctionStatus[]> } | undefined

  constructor(c: DashboardContext) {
    this.#c = c
    this.#mode = writeMode(c.token)
    this.#live = new LiveStats({ nc: c.nc, log: c.log, functions: async () => (await this.#statusList()).map((s) => s.name) })
  }

  close(): void {
    this.#live.close()
  }

  /** Answers an `/api/` request. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    try {
      await this.#live.touch()
      const parts = path.split('/').slice(2).map(decodeURIComponent)
      if (parts[0] !== 'functions') throw new HttpError(404, 'not-found', `no API route ${path}`)
      const [, fn, what, arg, action] = parts
      if (req.method === 'GET') {
        if (fn === undefined) return json(res, 200, await this.#overview())
        if (what === undefined) return json(res, 200, await this.#function(fn))
        if (what === 'tail' && arg === undefined) return this.#tail(req, res, fn)
        if (what === 'dead-letters' && arg === undefined) return json(res, 200, await this.#deadLetters(fn, query))
        if (what === 'dead-letters' && action === undefined) return json(res, 200, deadLetterDetail(await (await this.#dlq(fn)).show(seqOf(arg!))))
      } else if (req.method === 'POST' && fn !== undefined && what !== undefined) {
        const access = writeAccess(
          {
            method: req.method,
            remoteAddress: req.socket.remoteAddress,
            authorization: req.headers.authorization,
            contentType: req.headers['content-type'],
            origin: req.headers.origin,
            host: req.headers.host,
          },
          this.#c.token,
        )
        if (!access.allowed) throw new HttpError(access.status, 'write-refused', access.reason)
        const body = await readBody(req)
        const result = await this.#write(fn, what, arg, body)
        this.#statuses = undefined
        this.#listings.clear()
        this.#c.log.info({ fn, action: arg ? `${what} ${arg}` : what, from: req.socket.remoteAddress }, 'dashboard write')
        return json(res, 200, result)
      }
      throw new HttpError(req.method === 'GET' || req.method === 'POST' ? 404 : 405, 'not-found', `no API route ${req.method} ${path}`)
    } catch (err) {
      sendError(res, err, this.#c.log)
    }
  }

  async #overview(): Promise<{ replica: string; write: WriteMode; windowMs: number; functions: FunctionView[] }> {
    const statuses = await this.#statusList()
    return { replica: this.#c.replica, write: this.#mode, windowMs: FIGURES_WINDOW_MS, functions: statuses.map((s) => ({ ...s, live: this.#live.figures(s.name) })) }
  }

  async #function(fn: string) {
    const status = (await this.#statusList()).find((s) => s.name === fn)
    const history = await this.#c.registry.history(fn)
    if (!status && history.length === 0) throw new FnError(FnErrorCode.FunctionNotFound, `no function named '${fn}' is deployed`)
    const versions = history
      .filter((r) => r.manifest)
      .map((r) => ({ revision: r.revision, version: r.manifest!.version, deployedAt: r.manifest!.deployedAt, deployedBy: r.manifest!.deployedBy, rolledBackFrom: r.manifest!.rolledBackFrom ?? null, current: r.manifest!.version === status?.version }))
      .reverse()
    return { replica: this.#c.replica, write: this.#mode, windowMs: FIGURES_WINDOW_MS, function: status ? { ...status, live: this.#live.figures(fn) } : null, versions }
  }

  #deadLetters(fn: string, query: URLSearchParams): Promise<DeadLetterListing> {
    const kind = query.get('kind') || undefined
    const text = query.get('q')?.toLowerCase() || undefined
    const key = JSON.stringify([fn, kind, text])
    const now = Date.now()
    const cached = this.#listings.get(key)
    if (cached && now - cached.at < LISTING_TTL_MS) return cached.value
    for (const [k, v] of this.#listings) if (now - v.at >= LISTING_TTL_MS) this.#listings.delete(k)
    const value = this.#listDeadLetters(fn, kind, text)
    this.#listings.set(key, { at: now, value })
    value.catch(() => this.#listings.delete(key))
    return value
  }

  async #listDeadLetters(fn: string, kind: string | undefined, text: string | undefined): Promise<DeadLetterListing> {
    const dlq = await this.#dlq(fn)
    const kinds = new Set<string>()
    const found: DeadLetterSummaryJson[] = []
    let total = 0
    for await (const e of dlq.list()) {
      total++
      if (e.errorKind) kinds.add(e.errorKind)
      if (kind !== undefined && e.errorKind !== kind) continue
      if (text !== undefined && !`${e.error ?? ''} ${e.sourceSubject ?? ''}`.toLowerCase().includes(text)) continue
      found.push(deadLetterSummary(e))
      if (found.length > MAX_LISTED) found.shift()
    }
    return { total, kinds: [...kinds].sort(), deadLetters: found.reverse() }
  }

  #tail(req: IncomingMessage, res: ServerResponse, fn: string): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    res.write(': tail of ' + fn + '\n\n')
    const stop = this.#live.tail(fn, (item) => res.write(`event: ${item.type}\ndata: ${item.type === 'event' ? JSON.stringify(item.event) : item.line}\n\n`))
    // Comments keep proxies from closing an idle stream.
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000)
    req.on('close', () => {
      clearInterval(ping)
      stop()
    })
  }

  async #write(fn: string, what: string, arg: string | undefined, body: Record<string, unknown>): Promise<unknown> {
    const c = this.#c
    if (what === 'dead-letters' && (arg === 'replay' || arg === 'purge')) {
      const dlq = await this.#dlq(fn)
      const sel = selection(body)
      if (arg === 'replay') {
        const replayed = []
        for await (const r of dlq.replay(sel)) replayed.push({ dlqSeq: r.dlqSeq, subject: r.subject, stored: r.stored ?? null })
        return { replayed }
      }
      // A purge removes data for good: the request must name the function again.
      if (body.confirm !== fn) throw new HttpError(400, 'confirm', `to purge, confirm with the function's name ('${fn}')`)
      return { purged: await dlq.purge(sel) }
    }
    if (what === 'rollback' && arg === undefined) {
      const to = typeof body.to === 'string' && body.to !== '' ? body.to : undefined
      const { from, to: manifest } = await rollbackFunction(c.registry, fn, to, { jsm: c.jsm, log: c.log })
      return { from: from ?? null, to: manifest.version }
    }
    if ((what === 'pause' || what === 'resume') && arg === undefined) {
      const ctx = { nc: c.nc, jsm: c.jsm, registry: c.registry }
      return what === 'pause' ? pauseFunction(ctx, fn) : resumeFunction(ctx, fn)
    }
    throw new HttpError(404, 'not-found', `no write action '${[what, arg].filter(Boolean).join('/')}'`)
  }

  #dlq(fn: string): Promise<DeadLetters> {
    const c = this.#c
    return DeadLetters.open({ jsm: c.jsm, js: c.js, payloads: new DeadLetterPayloads(c.nc, { provision: false }), registry: c.registry, dlqStream: c.dlqStream, fn })
  }

  #statusList(): Promise<FunctionStatus[]> {
    const now = Date.now()
    if (this.#statuses && now - this.#statuses.at < STATUS_TTL_MS) return this.#statuses.value
    const value = functionStatuses({ registry: this.#c.registry, jsm: this.#c.jsm, dlqStream: this.#c.dlqStream })
    this.#statuses = { at: now, value }
    value.catch(() => (this.#statuses = undefined))
    return value
  }
}

function seqOf(s: string): number {
  if (!/^\d+$/.test(s)) throw new HttpError(400, 'usage', `'${s}' is not a dead letter's sequence number`)
  return Number(s)
}

function selection(body: Record<string, unknown>): DeadLetterSelection {
  if (body.seqs === undefined) return { all: true }
  if (!Array.isArray(body.seqs) || body.seqs.length === 0 || !body.seqs.every((s) => Number.isSafeInteger(s) && (s as number) > 0)) {
    throw new HttpError(400, 'usage', "'seqs' must be a list of dead letters' sequence numbers")
  }
  return { seqs: body.seqs as number[] }
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0
  const chunks: Buffer[] = []
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY) throw new HttpError(413, 'too-large', `request body over ${MAX_BODY} bytes`)
    chunks.push(chunk)
  }
  if (size === 0) return {}
  try {
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>
  } catch {
    // Answered below.
  }
  throw new HttpError(400, 'usage', 'the request body must be a JSON object')
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body))
}

const FN_STATUS: Partial<Record<string, number>> = {
  [FnErrorCode.FunctionNotFound]: 404,
  [FnErrorCode.UsageInvalid]: 400,
  [FnErrorCode.ServerUnsupported]: 409,
  [FnErrorCode.PermissionDenied]: 403,
}

function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  if (res.headersSent) {
    res.end()
    return
  }
  if (err instanceof HttpError) return json(res, err.status, { error: { code: err.code, message: err.message } })
  if (err instanceof FnError) return json(res, FN_STATUS[err.code] ?? 500, { error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) } })
  log.error({ err }, 'dashboard request failed')
  json(res, 500, { error: { code: FnErrorCode.Internal, message: (err as Error).message ?? String(err) } })
}
