/**
 * Turns a failed first connection into one line that says why, with a hint naming the setting to
 * fix: credentials refused (`FN_NATS_AUTH_FAILED`), a TLS problem (`FN_NATS_TLS_FAILED`), or no
 * server (`FN_NATS_UNAVAILABLE`). What nats.js and Node report, measured with nats.js 3.4, Node 20
 * and nats-server 2.15.1:
 * - wrong or missing token, password, NKey, or a user JWT the server refuses (unknown account,
 *   expired, revoked): `AuthorizationError: Authorization Violation`;
 * - a server certificate from a CA the client does not trust: `UNABLE_TO_VERIFY_LEAF_SIGNATURE`
 *   (or `SELF_SIGNED_CERT_IN_CHAIN`, `DEPTH_ZERO_SELF_SIGNED_CERT`), also when no `tls` is set,
 *   since nats.js starts TLS whenever the server requires it;
 * - a mutual-TLS server given no client certificate: a timeout (see probe-tls.ts), whose cause the
 *   probe finds: `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`;
 * - `tls` set and a server without TLS: `server does not support 'tls'`.
 * Messages name servers without userinfo and never quote a secret.
 */
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import type { NatsOrigin, NatsTlsFields } from '../config/nats-environment.ts'
import { NATS_ENV } from '../config/nats-environment.ts'
import type { ConnectionAuth } from './connection-options.ts'
import { probeTls, type ProbeTlsOptions } from './probe-tls.ts'
import { redactUrl } from './server-url.ts'

/** What was tried: enough to explain a refusal. */
export interface ConnectAttempt {
  servers: readonly string[]
  auth: ConnectionAuth
  /** The TLS material passed to nats.js; undefined when `tls` is not configured. */
  tls: ProbeTlsOptions | undefined
  /** The TLS files, as configured (for messages). */
  tlsFiles: NatsTlsFields | undefined
  origin: NatsOrigin
  /** How long nats.js waited, ms. */
  timeoutMs: number
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
])
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID'])
/** Alerts of a server that wants a (different) client certificate. */
const CLIENT_CERT_REFUSED = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
])

/** The error to throw for a failed first connection. Probes the server for TLS causes after a timeout. */
export async function explainConnectError(err: unknown, a: ConnectAttempt): Promise<FnError> {
  const at = a.servers.map(redactUrl).join(', ')
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string } }
  const message = e?.message ?? String(err)
  if (e?.name === 'AuthorizationError' || /authorization violation/i.test(message)) {
    return new FnError(FnErrorCode.NatsAuthFailed, `NATS at ${at} refused ${describeAuth(a)}: Authorization Violation`, { cause: err, hint: authHint(a) })
  }
  if (e?.name === 'UserAuthenticationExpiredError' || /authentication expired/i.test(message)) {
    return new FnError(FnErrorCode.NatsAuthFailed, `NATS at ${at} refused ${describeAuth(a)}: user authentication expired`, { cause: err, hint: `renew the credentials of ${a.auth.from ?? 'the connection'}` })
  }
  if (/does not support 'tls'/.test(message)) {
    return new FnError(FnErrorCode.NatsTlsFailed, `the NATS server at ${at} does not offer TLS, and ${tlsOrigin(a)} asks for it`, {
      cause: err,
      hint: `enable TLS on the server, or remove ${tlsOrigin(a)}`,
    })
  }
  let tlsError = tlsCode(e) === undefined ? undefined : (err as Error)
  if (tlsError === undefined && e?.name === 'TimeoutError') {
    // Every server may be tried; the first that shows a TLS problem explains the timeout.
    for (const server of a.servers) {
      tlsError = await probeTls(server, a.tls).catch(() => undefined)
      if (tlsError) break
    }
    if (tlsError === undefined) {
      return new FnError(FnErrorCode.NatsUnavailable, `cannot connect to NATS at ${at}: no answer within ${a.timeoutMs} ms`, {
        cause: err,
        hint: 'check that the server is up and reachable from here, and that the URL points at its client port (4222 by default)',
      })
    }
  }
  if (tlsError !== undefined) return explainTls(tlsError, at, a, err)
  return new FnError(FnErrorCode.NatsUnavailable, `cannot connect to NATS at ${at}: ${message}`, {
    cause: err,
    hint: 'start a server (`fn dev` starts one for you) or set NATS_URL / nats.servers in fn.config.ts',
  })
}

function explainTls(tlsError: Error, at: string, a: ConnectAttempt, cause: unknown): FnError {
  const code = tlsCode(tlsError as { code?: string }) ?? ''
  // OpenSSL errors carry a multi-line message with source locations; `reason` is the readable part.
  const text = (tlsError as { reason?: string }).reason ?? tlsError.message.split('\n')[0] ?? ''
  const reason = `${text}${code && !text.includes(code) ? `: ${code}` : ''}`
  const fail = (what: string, hint: string) => new FnError(FnErrorCode.NatsTlsFailed, `TLS with the NATS server at ${at} failed: ${what} (${reason})`, { cause, hint })
  const caFile = a.tlsFiles?.caFile
  const certFile = a.tlsFiles?.certFile
  if (UNTRUSTED.has(code)) {
    return fail(
      "the server's certificate is not signed by a CA this client trusts",
      caFile === undefined
        ? `set ${NATS_ENV.ca} or 'nats.tls.caFile' to the PEM file of the CA that signed the server's certificate`
        : `${a.origin.caFile ?? "'nats.tls.caFile'"} ('${caFile}') is not the CA that signed the server's certificate`,
    )
  }
  if (EXPIRED.has(code)) return fail("the server's certificate has expired or is not valid yet", "renew the server's certificate, and check this machine's clock")
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return fail("the server's certificate does not name the host in the URL", "connect with a host name or IP address listed in the certificate's subjectAltName")
  }
  if (CLIENT_CERT_REFUSED.has(code)) {
    return certFile === undefined
      ? fail(
          'the server requires a client certificate (mutual TLS)',
          `set ${NATS_ENV.cert} and ${NATS_ENV.key}, or 'nats.tls.certFile' and 'nats.tls.keyFile', to a client certificate signed by a CA the server trusts`,
        )
      : fail(
          'the server refused the client certificate',
          `${a.origin.certFile ?? "'nats.tls.certFile'"} ('${certFile}') must be signed by a CA in the server's tls ca_file, and be valid now`,
        )
  }
  return fail('the TLS handshake failed', `check the server's tls block and ${tlsOrigin(a)}`)
}

function tlsCode(e: { code?: string; cause?: { code?: string } } | undefined): string | undefined {
  const code = e?.code ?? e?.cause?.code
  if (code === undefined) return undefined
  return UNTRUSTED.has(code) || EXPIRED.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') ? code : undefined
}

function tlsOrigin(a: ConnectAttempt): string {
  const set = [a.origin.caFile, a.origin.certFile, a.origin.keyFile].filter((o): o is string => o !== undefined)
  return set.length > 0 ? set.join(', ') : "'nats.tls'"
}

/** `the token of NATS_TOKEN`, `user 'app' (fn.config.ts: 'nats.user')`: never the secret itself. */
function describeAuth(a: ConnectAttempt): string {
  const from = a.auth.from === undefined ? '' : ` (${a.auth.from})`
  const { auth } = a
  if (auth.jwt) {
    const name = auth.jwt.name === undefined ? '' : ` '${auth.jwt.name}'`
    return `the credentials of user${name} ${auth.publicKey ?? ''}${from}`.replace('  ', ' ')
  }
  if (auth.publicKey) return `NKey user ${auth.publicKey}${from}`
  if (auth.token !== undefined) return `the token${from}`
  if (auth.user !== undefined) return `user '${auth.user}' and its password${from}`
  return 'a connection without credentials'
}

function authHint(a: ConnectAttempt): string {
  const { auth } = a
  const where = auth.from
  if (auth.jwt) {
    const exp = auth.jwt.exp
    if (exp !== undefined && exp * 1000 <= Date.now()) {
      return `the user JWT expired at ${new Date(exp * 1000).toISOString()}: generate new credentials (\`nsc generate creds\`) for ${where}`
    }
    return `the server does not accept this user: its account must be known to the server's resolver (\`nsc push\`), and the user neither expired nor revoked; check ${where}`
  }
  if (auth.publicKey) return `the server does not know NKey user ${auth.publicKey}: add it to the server's authorization users, or check ${where}`
  if (auth.token !== undefined) return `the server does not accept this token: check ${where}`
  if (auth.user !== undefined) return `the server does not accept this user and password: check ${where}`
  return `the server requires credentials: set ${NATS_ENV.creds}, ${NATS_ENV.nkey}, ${NATS_ENV.token} or ${NATS_ENV.user} + ${NATS_ENV.password} (or 'nats.credsFile', 'nats.nkeySeedFile', 'nats.token', 'nats.user' + 'nats.pass' in fn.config.ts)`
}
