/**
 * What the root logger hides, as a second line of defence: jetfn never logs a credential or a
 * server URL with userinfo, and this catches one that slips into a logged object (a config, a
 * connection's options) one level deep.
 */
import type { LoggerOptions } from 'pino'
import { redactUrl } from '../nats/server-url.ts'

/** Fields whose whole value is a secret. */
const SECRET_KEYS = ['token', 'pass', 'password', 'nkeySeed', 'seed', 'creds', 'authorization']
/** Fields that hold server URLs: shown with their userinfo replaced by `***`. */
const URL_KEYS = ['url', 'urls', 'server', 'servers']

/** pino's `redact` option for the root logger. */
export const LOG_REDACT: NonNullable<LoggerOptions['redact']> = {
  paths: [...SECRET_KEYS, ...URL_KEYS].flatMap((key) => [key, `*.${key}`]),
  censor: (value: unknown, path: string[]): unknown => {
    if (!URL_KEYS.includes(path.at(-1) ?? '')) return '[redacted]'
    if (typeof value === 'string') return redactUrl(value)
    return Array.isArray(value) ? value.map((v: unknown) => (typeof v === 'string' ? redactUrl(v) : v)) : value
  },
}
