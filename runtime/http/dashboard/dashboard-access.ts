/**
 * Who may use the dashboard's write actions (replay, purge, rollback, pause, resume). Reading is
 * open to whoever reaches `http.port`. Writing needs `http.token` as a bearer token when one is
 * configured; without one, only a request from this machine (127.0.0.1, ::1) may write.
 * Either way a write must be a JSON POST from no other origin than the dashboard's own: a web page
 * elsewhere cannot make a browser send one (it would need a CORS preflight this server refuses).
 */
import { timingSafeEqual } from 'node:crypto'

/** How writes are allowed, as the dashboard shows it. */
export type WriteMode = 'token' | 'loopback'

/** What {@link writeAccess} reads of a request. */
export interface WriteRequest {
  method: string
  remoteAddress: string | undefined
  authorization: string | undefined
  contentType: string | undefined
  origin: string | undefined
  host: string | undefined
}

export type WriteDecision = { allowed: true } | { allowed: false; status: 401 | 403 | 415; reason: string }

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1'])

/** The write mode of a dashboard with `token` configured (or not). */
export function writeMode(token: string | undefined): WriteMode {
  return token === undefined ? 'loopback' : 'token'
}

/** Whether `req` may change anything; when not, the status and reason to answer with. */
export function writeAccess(req: WriteRequest, token: string | undefined): WriteDecision {
  if (req.method !== 'POST' || !/^application\/json\b/i.test(req.contentType ?? '')) {
    return { allowed: false, status: 415, reason: 'write actions are JSON POST requests' }
  }
  if (req.origin !== undefined && req.origin !== 'null' && req.host !== undefined) {
    let originHost: string | undefined
    try {
      originHost = new URL(req.origin).host
    } catch {
      // An origin that is not a URL is no origin of ours.
    }
    if (originHost !== req.host) return { allowed: false, status: 403, reason: `requests from ${req.origin} may not change anything here` }
  }
  if (token !== undefined) {
    const given = /^Bearer (.+)$/i.exec(req.authorization ?? '')?.[1]?.trim()
    if (given === undefined) return { allowed: false, status: 401, reason: 'write actions need the dashboard token (http.token) as a bearer token' }
    const a = Buffer.from(given)
    const b = Buffer.from(token)
    if (a.length !== b.length || !timingSafeEqual(a, b)) return { allowed: false, status: 401, reason: 'the dashboard token is not the one configured (http.token)' }
    return { allowed: true }
  }
  if (!LOOPBACK.has(req.remoteAddress ?? '')) {
    return { allowed: false, status: 403, reason: 'the dashboard is read-only from other machines unless http.token is set' }
  }
  return { allowed: true }
}
