/**
 * Connects to NATS as `fn.config.ts` (or `NATS_URL`) says, with the settings a long-running
 * replica needs: reconnect forever, no per-request async stack traces (they halve publish and
 * ackAck throughput), and a check that the server has JetStream and is recent enough.
 */
import { readFileSync } from 'node:fs'
import { connect as natsConnect, credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { compareVersions, MIN_NATS_SERVER_VERSION } from './nats-server-bin.ts'
import { permissionDenied } from './permission-denied.ts'

/** Connection settings, as resolved from `fn.config.ts` `nats`. */
export interface NatsSettings {
  servers: readonly string[]
  token?: string | undefined
  user?: string | undefined
  pass?: string | undefined
  nkeySeed?: string | undefined
  credsFile?: string | undefined
  tls?: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined } | undefined
  name?: string | undefined
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
}

export async function connectNats(settings: NatsSettings, opts: ConnectNatsOptions = {}): Promise<NatsConnection> {
  const options: ConnectionOptions = {
    servers: [...settings.servers],
    name: settings.name ?? opts.name ?? 'jetfn',
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: opts.timeoutMs ?? 5_000,
    ...(opts.inboxPrefix ? { inboxPrefix: opts.inboxPrefix } : {}),
    ...(settings.token ? { token: settings.token } : {}),
    ...(settings.user ? { user: settings.user, pass: settings.pass } : {}),
  }
  if (settings.credsFile) options.authenticator = credsAuthenticator(readFileSync(settings.credsFile))
  else if (settings.nkeySeed) options.authenticator = nkeyAuthenticator(new TextEncoder().encode(settings.nkeySeed))
  if (settings.tls) {
    options.tls = {
      ...(settings.tls.caFile ? { caFile: settings.tls.caFile } : {}),
      ...(settings.tls.certFile ? { certFile: settings.tls.certFile } : {}),
      ...(settings.tls.keyFile ? { keyFile: settings.tls.keyFile } : {}),
    }
  }
  let nc: NatsConnection
  try {
    nc = await natsConnect(options)
  } catch (err) {
    throw new FnError(FnErrorCode.NatsUnavailable, `cannot connect to NATS at ${settings.servers.join(', ')}: ${(err as Error).message}`, {
      cause: err,
      hint: 'start a server (`fn dev` starts one for you) or set NATS_URL / nats.servers in fn.config.ts',
    })
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
    throw new FnError(FnErrorCode.ServerUnsupported, `JetStream is not enabled on the server at ${nc.getServer()}`, {
      cause: err,
      hint: 'run nats-server with -js (or `jetstream {}` in its config)',
    })
  }
  return nc
}
