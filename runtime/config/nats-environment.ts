/**
 * How the environment and credentials inside server URLs shape `nats`: the variables the `nats`
 * CLI reads (so one set of variables serves both tools, and a Kubernetes Secret can be mounted
 * as variables or files), with the deployment's environment winning over `fn.config.ts`.
 */
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { splitServerUrl } from '../nats/server-url.ts'

/**
 * The variables jetfn reads to connect, with what each one sets. They are the replica's own
 * credentials: handler threads never get them through a pattern of `pool.env`.
 */
export const NATS_ENV = {
  /** Server URLs, comma-separated; replaces `nats.servers`. `nats://user:pass@host` or `nats://token@host` also authenticates. */
  url: 'NATS_URL',
  /** Token; replaces the auth of `fn.config.ts`. */
  token: 'NATS_TOKEN',
  /** User name; needs `NATS_PASSWORD`. */
  user: 'NATS_USER',
  /** Password of `NATS_USER`. */
  password: 'NATS_PASSWORD',
  /** Path of a file holding an NKey user seed (`SU…`). */
  nkey: 'NATS_NKEY',
  /** Path of a `.creds` file (user JWT and seed). */
  creds: 'NATS_CREDS',
  /** Path of the PEM CA that signed the server's certificate; replaces `nats.tls.caFile`. */
  ca: 'NATS_CA',
  /** Path of the PEM client certificate (mutual TLS); replaces `nats.tls.certFile`. */
  cert: 'NATS_CERT',
  /** Path of the PEM key of the client certificate; replaces `nats.tls.keyFile`. */
  key: 'NATS_KEY',
} as const

/** The ways to authenticate, as fields of the resolved `nats`. */
export interface NatsAuthFields {
  token?: string | undefined
  user?: string | undefined
  pass?: string | undefined
  nkeySeed?: string | undefined
  nkeySeedFile?: string | undefined
  credsFile?: string | undefined
}

/** TLS files of the resolved `nats`. */
export interface NatsTlsFields {
  caFile?: string | undefined
  certFile?: string | undefined
  keyFile?: string | undefined
}

/**
 * Where the credentials and the TLS files in use were set, as error messages name them:
 * `fn.config.ts: 'nats.credsFile'`, `NATS_CREDS`, `the userinfo of NATS_URL`.
 */
export interface NatsOrigin {
  auth?: string
  caFile?: string
  certFile?: string
  keyFile?: string
}

/** `nats` as the schema resolved it from the file: servers may still carry userinfo. */
interface FileNats extends NatsAuthFields {
  servers: string[]
  serversSource: 'config' | 'default'
  tls?: NatsTlsFields | undefined
  name: string
}

/** `nats` resolved: servers without userinfo, one way to authenticate, and where each secret came from. */
export interface ResolvedNats extends NatsAuthFields {
  /** Server URLs, never with userinfo: safe to print. */
  servers: string[]
  /** Where `servers` came from; `fn dev` uses an external server only for `'env'`. */
  serversSource: 'env' | 'config' | 'default'
  tls?: NatsTlsFields | undefined
  name: string
  origin: NatsOrigin
}

const AUTH_KEYS = ['token', 'user', 'pass', 'nkeySeed', 'nkeySeedFile', 'credsFile'] as const

/**
 * Splits userinfo out of the servers, then applies the environment: `NATS_URL` replaces the
 * servers; one of userinfo in `NATS_URL`, `NATS_TOKEN`, `NATS_USER` + `NATS_PASSWORD`, `NATS_NKEY`,
 * `NATS_CREDS` replaces the file's way to authenticate; `NATS_CA`, `NATS_CERT`, `NATS_KEY` replace
 * the TLS file each names. An empty variable counts as unset.
 *
 * @throws FnError `FN_CONFIG_INVALID` when the servers carry different credentials, userinfo is
 *   combined with another way to authenticate from the same place, or the environment sets two.
 *   No message quotes a secret.
 */
export function resolveNatsEnvironment(nats: FileNats, opts: { file: string; env: NodeJS.ProcessEnv }): ResolvedNats {
  const env = (name: string): string | undefined => (opts.env[name] === '' ? undefined : opts.env[name])
  const fileField = (field: string) => `${opts.file}: 'nats.${field}'`
  const fromFile = fromServers(nats.servers, fileField('servers'))
  const fileAuth = pick(nats, AUTH_KEYS)
  const fileMethod = authMethod(fileAuth)
  if (fromFile.credentials && fileMethod) {
    throw invalid(`${fileField('servers')} carries credentials in a URL, and ${fileField(fileMethod)} is set too: use one way to authenticate`)
  }
  let servers = fromFile.urls
  let serversSource: ResolvedNats['serversSource'] = nats.serversSource
  const fileOrigin = fromFile.credentials ? `the userinfo of ${fileField('servers')}` : fileMethod && fileField(fileMethod)
  let auth: NatsAuthFields = fromFile.credentials ?? fileAuth
  let origin: NatsOrigin = fileOrigin ? { auth: fileOrigin } : {}

  const url = env(NATS_ENV.url)
  const fromEnv = fromServers(url === undefined ? [] : url.split(',').map((s) => s.trim()).filter((s) => s !== ''), NATS_ENV.url)
  if (fromEnv.urls.length > 0) {
    servers = fromEnv.urls
    serversSource = 'env'
  }
  const user = env(NATS_ENV.user)
  const password = env(NATS_ENV.password)
  if (user !== undefined && password === undefined) throw invalid(`${NATS_ENV.user} is set without ${NATS_ENV.password}`, `for a token, set ${NATS_ENV.token} instead`)
  if (password !== undefined && user === undefined) throw invalid(`${NATS_ENV.password} is set without ${NATS_ENV.user}`)
  const envMethods: Array<[string, NatsAuthFields]> = []
  if (fromEnv.credentials) envMethods.push([`the userinfo of ${NATS_ENV.url}`, fromEnv.credentials])
  const token = env(NATS_ENV.token)
  if (token !== undefined) envMethods.push([NATS_ENV.token, { token }])
  if (user !== undefined && password !== undefined) envMethods.push([`${NATS_ENV.user}/${NATS_ENV.password}`, { user, pass: password }])
  const nkey = env(NATS_ENV.nkey)
  if (nkey !== undefined) envMethods.push([NATS_ENV.nkey, { nkeySeedFile: nkey }])
  const creds = env(NATS_ENV.creds)
  if (creds !== undefined) envMethods.push([NATS_ENV.creds, { credsFile: creds }])
  if (envMethods.length > 1) {
    throw invalid(`${envMethods.map(([name]) => name).join(' and ')} are set together: use one way to authenticate`)
  }
  const [chosen] = envMethods
  if (chosen) {
    auth = chosen[1]
    origin = { auth: chosen[0] }
  }

  let tls = nats.tls && { ...nats.tls }
  for (const [field, name] of [['caFile', NATS_ENV.ca], ['certFile', NATS_ENV.cert], ['keyFile', NATS_ENV.key]] as const) {
    const value = env(name)
    if (value !== undefined) {
      tls = { ...tls, [field]: value }
      origin[field] = name
    } else if (tls?.[field] !== undefined) origin[field] = fileField(`tls.${field}`)
  }
  if (tls && (tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    const [set, missing] = tls.certFile === undefined ? (['keyFile', 'certFile'] as const) : (['certFile', 'keyFile'] as const)
    throw invalid(`${origin[set]} sets a client ${set === 'certFile' ? 'certificate' : 'key'} without a ${missing === 'certFile' ? 'certificate' : 'key'}: set ${missing === 'certFile' ? NATS_ENV.cert : NATS_ENV.key} or 'nats.tls.${missing}' too`)
  }
  return { servers, serversSource, name: nats.name, ...auth, ...(tls ? { tls } : {}), origin }
}

/** The one way to authenticate the fields set, by its field name; undefined when none is. */
function authMethod(auth: NatsAuthFields): string | undefined {
  return (['token', 'user', 'nkeySeed', 'nkeySeedFile', 'credsFile'] as const).find((k) => auth[k] !== undefined)
}

/** The URLs without userinfo, and the one set of credentials they carry. */
function fromServers(list: readonly string[], where: string): { urls: string[]; credentials?: NatsAuthFields } {
  const split = list.map(splitServerUrl)
  const found = split.flatMap((s) => (s.credentials ? [JSON.stringify(s.credentials)] : []))
  if (new Set(found).size > 1) throw invalid(`${where} lists URLs with different credentials: jetfn connects with one set`)
  const credentials = split.find((s) => s.credentials)?.credentials
  return { urls: split.map((s) => s.url), ...(credentials ? { credentials } : {}) }
}

function pick<T extends object, K extends keyof T>(from: T, keys: readonly K[]): Pick<T, K> {
  const out = {} as Pick<T, K>
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k]
  return out
}

function invalid(message: string, hint?: string): FnError {
  return new FnError(FnErrorCode.ConfigInvalid, message, hint === undefined ? {} : { hint })
}
