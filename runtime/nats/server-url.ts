/**
 * Credentials inside server URLs (`nats://user:pass@host:4222`, `nats://token@host:4222`), the
 * form the Go client and the `nats` CLI accept in `NATS_URL`. nats.js ignores them silently, so
 * jetfn takes them out of the URL and authenticates with them; and every URL it prints or logs
 * goes through {@link redactUrl} first.
 */

/** A server URL with its userinfo taken out. */
export interface SplitServerUrl {
  /** The URL without userinfo: `nats://host:4222`. */
  url: string
  /** `user:pass@` gives user and pass; `token@` gives token; none gives neither. */
  credentials?: { user: string; pass: string } | { token: string }
}

// scheme://userinfo@rest, or userinfo@rest without a scheme (nats.js accepts `host:port`). The
// userinfo is everything up to the last '@' before the first '/': a password may hold '@'.
const USERINFO = /^(?<scheme>[a-z][a-z0-9+.-]*:\/\/)?(?<userinfo>[^/]*)@(?<rest>.*)$/is

/**
 * Takes the userinfo out of a server URL. Percent-escapes in it are decoded (`p%40ss` is `p@ss`),
 * as URL userinfo must escape `@`, `:` and `/`.
 */
export function splitServerUrl(server: string): SplitServerUrl {
  const m = USERINFO.exec(server)
  if (!m?.groups) return { url: server }
  const { scheme = '', userinfo = '', rest = '' } = m.groups
  const url = `${scheme}${rest}`
  const colon = userinfo.indexOf(':')
  if (colon < 0) return userinfo === '' ? { url } : { url, credentials: { token: decode(userinfo) } }
  return { url, credentials: { user: decode(userinfo.slice(0, colon)), pass: decode(userinfo.slice(colon + 1)) } }
}

/** `nats://user:secret@host:4222` → `nats://user:***@host:4222`; `nats://tok@host` → `nats://***@host`. Other text is returned as is. */
export function redactUrl(server: string): string {
  const m = USERINFO.exec(server)
  if (!m?.groups) return server
  const { scheme = '', userinfo = '', rest = '' } = m.groups
  if (userinfo === '') return `${scheme}${rest}`
  const colon = userinfo.indexOf(':')
  return `${scheme}${colon < 0 ? '***' : `${userinfo.slice(0, colon)}:***`}@${rest}`
}

/** Every `scheme://userinfo@` in a piece of text (an error message, a log line) redacted. */
export function redactUrlsIn(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s/@]*)@/gi, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':')
    return `${scheme}${colon < 0 ? '***' : `${userinfo.slice(0, colon)}:***`}@`
  })
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    // A lone '%' is not an escape: the user wrote it literally.
    return part
  }
}
