/**
 * The credentials and TLS material of a connection, read and checked before connecting, so that a
 * missing file, a creds file that is not one, a seed that is not a seed, or a certificate that
 * does not match its key is a config error naming the field and the file, not a failed handshake.
 * No message quotes a secret. Seed and creds files are read again at every reconnect: credentials
 * rotated on disk (a Kubernetes Secret updated in place) are picked up without a restart.
 */
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { credsAuthenticator, nkeyAuthenticator, nkeys, type Authenticator, type TlsOptions } from '@nats-io/transport-node'
import type { NatsAuthFields, NatsOrigin, NatsTlsFields } from '../config/nats-environment.ts'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'

/** What {@link connectionAuth} and {@link connectionTls} read from. */
export interface NatsCredentialSettings extends NatsAuthFields {
  tls?: NatsTlsFields | undefined
  /** Where each setting came from, for error messages. Default: the `nats.*` field names. */
  origin?: NatsOrigin | undefined
}

/** A user JWT's claims that explain a refusal: who it is and until when it is valid. */
export interface UserJwtClaims {
  name?: string
  sub?: string
  iss?: string
  /** Expiry, seconds since the epoch. */
  exp?: number
}

/** How a connection authenticates, ready for nats.js. */
export interface ConnectionAuth {
  token?: string
  user?: string
  pass?: string
  authenticator?: Authenticator
  /** The public key of the NKey user or of the creds' user: safe to show. */
  publicKey?: string
  /** The claims of the creds' user JWT. */
  jwt?: UserJwtClaims
  /** Where the credentials were set (`NATS_CREDS`, `fn.config.ts: 'nats.token'`); undefined without any. */
  from?: string
}

// As nats.js parses a creds file: the JWT block, then the seed block, each between dashed lines.
const CREDS_BLOCK = /\s*(?:(?:-{3,}[^\n]*-{3,}\r?\n)(.+)(?:\r?\n\s*-{3,}[^\n]*-{3,}\r?\n))/g

/**
 * The authentication options of a connection.
 *
 * @throws FnError `FN_CONFIG_INVALID` naming the field and the file: unreadable file, not a creds
 *   file, not an NKey user seed.
 */
export function connectionAuth(s: NatsCredentialSettings): ConnectionAuth {
  const where = (field: string) => s.origin?.auth ?? `'nats.${field}'`
  if (s.credsFile !== undefined) {
    const file = s.credsFile
    const label = where('credsFile')
    const { jwt, publicKey } = parseCreds(readSecretFile(file, label), `${label}: '${file}'`)
    const read = rereading(file, (bytes) => parseCreds(bytes, file))
    return { authenticator: credsAuthenticator(read), publicKey, jwt, from: label }
  }
  if (s.nkeySeedFile !== undefined) {
    const file = s.nkeySeedFile
    const label = where('nkeySeedFile')
    const publicKey = userPublicKey(readSecretFile(file, label), `${label}: '${file}'`)
    const read = rereading(file, (bytes) => userPublicKey(bytes, file))
    return { authenticator: nkeyAuthenticator(() => trimmed(read())), publicKey, from: label }
  }
  if (s.nkeySeed !== undefined) {
    const seed = new TextEncoder().encode(s.nkeySeed)
    return { authenticator: nkeyAuthenticator(seed), publicKey: userPublicKey(seed, where('nkeySeed')), from: where('nkeySeed') }
  }
  if (s.token !== undefined) return { token: s.token, from: where('token') }
  if (s.user !== undefined) return { user: s.user, pass: s.pass ?? '', from: where('user') }
  return {}
}

/**
 * The TLS options of a connection: the files read into PEM strings, checked by building a secure
 * context from them (a PEM that is not one, a key that is not the certificate's).
 *
 * @throws FnError `FN_CONFIG_INVALID` naming the field and the file.
 */
export function connectionTls(s: NatsCredentialSettings): TlsOptions | undefined {
  if (!s.tls) return undefined
  const where = (field: keyof NatsTlsFields) => s.origin?.[field] ?? `'nats.tls.${field}'`
  const read = (field: keyof NatsTlsFields): string | undefined => {
    const file = s.tls?.[field]
    return file === undefined ? undefined : new TextDecoder().decode(readSecretFile(file, where(field)))
  }
  const tls: TlsOptions = {}
  const ca = read('caFile')
  const cert = read('certFile')
  const key = read('keyFile')
  if (ca !== undefined) {
    // A secure context ignores a CA that does not parse; X509Certificate does not.
    check(() => new X509Certificate(ca), `${where('caFile')}: '${s.tls.caFile}' is not a PEM certificate`)
    tls.ca = ca
  }
  if (cert !== undefined && key !== undefined) {
    check(() => createSecureContext({ cert }), `${where('certFile')}: '${s.tls.certFile}' is not a PEM certificate`)
    check(() => createSecureContext({ key }), `${where('keyFile')}: '${s.tls.keyFile}' is not a PEM private key`)
    check(() => createSecureContext({ cert, key }), `${where('keyFile')}: '${s.tls.keyFile}' is not the private key of ${where('certFile')} '${s.tls.certFile}'`)
    tls.cert = cert
    tls.key = key
  }
  return tls
}

/** The claims of a user JWT, or undefined when it does not decode (the server says why it refused it). */
export function decodeUserJwt(jwt: string): UserJwtClaims | undefined {
  try {
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as UserJwtClaims
    return typeof claims === 'object' && claims !== null ? claims : undefined
  } catch {
    // Not a JWT: the server refuses it, and the refusal is what the user is told.
    return undefined
  }
}

function readSecretFile(file: string, label: string): Uint8Array {
  try {
    return readFileSync(file)
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : ((err as NodeJS.ErrnoException).code ?? (err as Error).message)
    throw new FnError(FnErrorCode.ConfigInvalid, `${label}: cannot read '${file}' (${reason})`, { cause: err, hint: 'paths are relative to the working directory' })
  }
}

/** The creds' user JWT claims and public key; throws naming `label` when the content is not a user creds file. */
function parseCreds(bytes: Uint8Array, label: string): { jwt: UserJwtClaims; publicKey: string } {
  const text = new TextDecoder().decode(bytes)
  const blocks = [...text.matchAll(CREDS_BLOCK)].map((m) => (m[1] ?? '').trim())
  const [jwt, seed] = blocks
  if (jwt === undefined || seed === undefined) {
    throw new FnError(FnErrorCode.ConfigInvalid, `${label} is not a NATS credentials file: it needs a user JWT block and an NKey seed block`, {
      hint: 'generate one with `nsc generate creds` (or `nsc add user`)',
    })
  }
  const claims = decodeUserJwt(jwt)
  if (claims === undefined) throw new FnError(FnErrorCode.ConfigInvalid, `${label}: its JWT block is not a JWT`)
  return { jwt: claims, publicKey: userPublicKey(new TextEncoder().encode(seed), `${label}: its seed block`) }
}

/** The public key of an NKey user seed; throws naming `label` when `seed` is not one. */
function userPublicKey(seed: Uint8Array, label: string): string {
  let publicKey: string
  try {
    publicKey = nkeys.fromSeed(trimmed(seed)).getPublicKey()
  } catch (err) {
    throw new FnError(FnErrorCode.ConfigInvalid, `${label} is not a valid NKey seed (${(err as Error).message})`, { cause: err, hint: 'an NKey user seed is 58 characters starting with SU' })
  }
  if (!publicKey.startsWith('U')) {
    throw new FnError(FnErrorCode.ConfigInvalid, `${label} is not an NKey user seed: its public key starts with '${publicKey[0]}', a user's with 'U'`)
  }
  return publicKey
}

/**
 * Reads `file` at every call, as nats.js authenticates at every (re)connect; a read or a content
 * that fails `check` keeps the last good content, so that a Secret caught mid-update does not
 * break a reconnect.
 */
function rereading(file: string, check: (bytes: Uint8Array) => unknown): () => Uint8Array {
  let last: Uint8Array | undefined
  return () => {
    try {
      const bytes = readFileSync(file)
      check(bytes)
      last = bytes
    } catch (err) {
      if (last === undefined) throw err
    }
    return last
  }
}

function trimmed(bytes: Uint8Array): Uint8Array {
  return new TextEncoder().encode(new TextDecoder().decode(bytes).trim())
}

function check(build: () => unknown, message: string): void {
  try {
    build()
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new FnError(FnErrorCode.ConfigInvalid, `${message} (${reason})`, { cause: err })
  }
}
