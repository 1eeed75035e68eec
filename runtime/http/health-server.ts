/**
 * A replica's HTTP endpoints: `/healthz` (the process is alive), `/readyz` (connected, and
 * every function's consumer running; 503 with the reasons otherwise), `/metrics` (Prometheus
 * text) and, when given, the dashboard (`/`, `/dashboard/*`, `/api/*`). Port 0 disables it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Logger } from 'pino'

/** What `/readyz` asks: a list of reasons the replica is not ready; empty means ready. */
export type ReadinessCheck = () => string[]

/** What `/metrics` serves. */
export interface MetricsEndpoint {
  contentType: string
  render(): Promise<string>
}

/** Answers the requests it owns (returns true), leaves the rest (false): the dashboard. */
export interface RouteHandler {
  handle(req: IncomingMessage, res: ServerResponse): boolean
  close?(): void
}

export interface HealthServer {
  port: number
  close(): Promise<void>
}

export async function startHealthServer(port: number, ready: ReadinessCheck, log: Logger, metrics?: MetricsEndpoint, dashboard?: RouteHandler): Promise<HealthServer | undefined> {
  if (port === 0) return undefined
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (dashboard?.handle(req, res)) return
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
    } else if (path === '/readyz') {
      const problems = ready()
      res.writeHead(problems.length === 0 ? 200 : 503, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ready: problems.length === 0, problems }) + '\n')
    } else if (path === '/metrics' && metrics) {
      metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
        (err: unknown) => {
          log.error({ err }, 'metrics scrape failed')
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n')
        },
      )
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '0.0.0.0', () => resolve())
  })
  const actual = (server.address() as { port: number }).port
  log.info({ port: actual }, 'health endpoints listening')
  return {
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        dashboard?.close?.()
        server.close(() => resolve())
        // Open tails (server-sent events) would hold the close back.
        server.closeAllConnections()
      }),
  }
}
