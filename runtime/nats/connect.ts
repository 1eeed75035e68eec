/**
 * Connects to NATS as `fn.config.ts` (or `NATS_URL`) says, with the settings a long-running
 * replica needs: reconnect forever, no per-request async stack traces (they halve publish and
 * ackAck throughput), and a check that the server has JetStream and is recent enough.
 */
import { connect as natsConnect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsAuthFields, NatsOrigin, NatsTlsFields } from '../config/nats-environment.ts'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { connectionAuth, connectionTls } from './connection-options.ts'
import { explainConnectError } from './explain-connect-error.ts'
import { compareVersions, MIN_NATS_SERVER_VERSION } from './nats-server-bin.ts'
import { permissionDenied } from './permission-denied.ts'
import { redactUrl, splitServerUrl } from './server-url.ts'

/** Connection settings, as resolved from `fn.config.ts` `nats` and the environment. */
export interface NatsSettings extends NatsAuthFields {
  /** Server URLs; userinfo in them is ignored here (the config resolution turns it into credentials). */
  servers: readonly string[]
  /** TLS files; seed and creds files (`nkeySeedFile`, `credsFile`) are read at every (re)connect. */
  tls?: NatsTlsFields | undefined
  name?: string | undefined
  /** Where each credential and TLS file was set, as errors name it. Default: the `nats.*` field. */
  origin?: NatsOrigin | undefined
}

/** Options of {@link connectNats}. */
export interface ConnectNatsOptions {
  /** Connection name shown by the server (`nats server report connections`). */
  name?: string
  /** How long the first connection may take, ms. Default 5 000. */
  timeoutMs?: number
  /**
   * Prefix of the connection's reply subjects (nats.js `inboxPrefix`): each role of `fn auth`
   * has its own, and may subscribe only under it. Default: nats.js's `_INBOX`.
   */
  inboxPrefix?: string
  /**
   * Keep reconnecting when the server refuses the credentials (an expired or revoked user JWT, a
   * rotated password), rather than give up after two refusals as nats.js does by default: a
   * long-running replica picks renewed credentials up at its next attempt (files are read again
   * on every reconnect). Default: false (a command gives up).
   */
  retryRefusedCredentials?: boolean
}

/**
 * Connects and checks the server: version and JetStream.
 *
 * @throws FnError `FN_CONFIG_INVALID` for a credentials or TLS file that cannot be read or is not
 *   what its field says; `FN_NATS_AUTH_FAILED`, `FN_NATS_TLS_FAILED` or `FN_NATS_UNAVAILABLE` with
 *   the reason the connection failed and a hint naming the setting to fix;
 *   `FN_SERVER_UNSUPPORTED` for a server too old or without JetStream.
 */
export async function connectNats(settings: NatsSettings, opts: ConnectNatsOptions = {}): Promise<NatsConnection> {
  const servers = settings.servers.map((s) => splitServerUrl(s).url)
  const auth = connectionAuth(settings)
  const tls = connectionTls(settings)
  const timeoutMs = opts.timeoutMs ?? 5_000
  const options: ConnectionOptions = {
    servers,
    name: settings.name ?? opts.name ?? 'jetfn',
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: timeoutMs,
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
    ...(opts.retryRefusedCredentials ? { ignoreAuthErrorAbort: true } : {}),
    ...(auth.token !== undefined ? { token: auth.token } : {}),
    ...(auth.user !== undefined ? { user: auth.user, pass: auth.pass } : {}),
    ...(auth.authenticator ? { authenticator: auth.authenticator } : {}),
    ...(tls ? { tls } : {}),
  }
  let nc: NatsConnection
  try {
    nc = await natsConnect(options)
  } catch (err) {
    throw await explainConnectError(err, { servers, auth, tls, tlsFiles: settings.tls, origin: settings.origin ?? {}, timeoutMs })
  }
  const version = nc.info?.version ?? '0.0.0'
  if (compareVersions(version, MIN_NATS_SERVER_VERSION) < 0) {
    await nc.close()
    throw new FnError(FnErrorCode.ServerUnsupported, `nats-server ${version} is too old: jetfn needs ${MIN_NATS_SERVER_VERSION} or newer`)
  }
  try {
    await (await jetstreamManager(nc)).getAccountInfo()
  } catch (err) {
    await nc.close()
    // A user not allowed `$JS.API.INFO`, or replies under this inbox prefix, is not a server without JetStream.
    const denied = permissionDenied(err)
    if (denied) throw denied
    throw new FnError(FnErrorCode.ServerUnsupported, `JetStream is not enabled on the server at ${redactUrl(nc.getServer())}`, {
      cause: err,
      hint: 'run nats-server with -js (or `jetstream {}` in its config); in operator mode, give the account JetStream limits (`nsc edit account --js-mem-storage -1 --js-disk-storage -1`)',
    })
  }
  return nc
}
