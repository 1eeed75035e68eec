/**
 * The dashboard at `/` of `http.port` (served by `fn start` and `fn dev`): a page of plain HTML,
 * CSS and JavaScript shipped in the package (`assets/`, copied to `dist/` by the build), with no
 * front-end framework, nothing fetched from elsewhere, so it works offline and behind any proxy;
 * and its JSON API (see `dashboard-api.ts`).
 */
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { DashboardApi, type DashboardContext } from './dashboard-api.ts'

/** The files of the page, by the name they are served under (`/dashboard/<name>`). */
export const DASHBOARD_ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
}

// Headers that keep the page to itself: no framing by other sites, nothing loaded from elsewhere.
const PAGE_HEADERS = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
}

/** Serves the dashboard; {@link Dashboard.handle} answers what it owns and returns false for the rest. */
export class Dashboard {
  readonly #api: DashboardApi
  readonly #assets = new Map<string, Buffer>()

  constructor(context: DashboardContext) {
    this.#api = new DashboardApi(context)
    for (const name of Object.keys(DASHBOARD_ASSETS)) this.#assets.set(name, readFileSync(new URL(`./assets/${name}`, import.meta.url)))
  }

  /** Answers `/`, `/dashboard/*` and `/api/*`; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://dashboard')
    const path = url.pathname
    if (path === '/' || path.startsWith('/dashboard/')) {
      const name = path === '/' ? 'index.html' : path.slice('/dashboard/'.length)
      const body = this.#assets.get(name)
      if (!body || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
        return true
      }
      res.writeHead(200, { 'content-type': DASHBOARD_ASSETS[name]!, 'cache-control': 'no-cache', ...PAGE_HEADERS }).end(req.method === 'HEAD' ? undefined : body)
      return true
    }
    if (path.startsWith('/api/')) {
      void this.#api.handle(req, res, path, url.searchParams)
      return true
    }
    return false
  }

  close(): void {
    this.#api.close()
  }
}
