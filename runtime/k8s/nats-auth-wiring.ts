/**
 * How a replica pod gets its NATS location and credentials from the Secret that `fn k8s` names:
 * which keys the Secret holds, which become environment variables, which are mounted as files.
 * The names are the ones jetfn itself reads (`NATS_ENV`, the `nats` CLI's names), so
 * `fn.config.ts` needs no line for them: the image never contains a credential.
 */
import type { ResolvedConfig } from '../config/config-schema.ts'
import { NATS_ENV } from '../config/nats-environment.ts'

/** Ways a pod can authenticate to NATS (`--auth`). */
export const NATS_AUTH_KINDS = ['creds', 'token', 'user', 'nkey', 'none'] as const
export type NatsAuthKind = (typeof NATS_AUTH_KINDS)[number]

/** Where credential files from the Secret are mounted in the pod. */
export const NATS_SECRET_DIR = '/etc/jetfn/nats'
export const NATS_TLS_DIR = '/etc/jetfn/tls'

/** One Secret key and what the pod makes of it. */
export interface SecretEntry {
  /** Key in the Secret. */
  key: string
  /** What the user puts there (shown in the template; never a real value). */
  placeholder: string
  /** The environment variable the pod gets: the value itself, or the file's path. */
  env: string
  /** Mounted as this file (absolute path); `env` then holds the path. */
  file?: string
  /** What a deployer (laptop, CI) sets instead when it runs `fn deploy`, as `VAR=value`. */
  deployer: string
}

/** The Secret's keys for the pod's NATS connection, in a stable order. */
export function natsSecretEntries(auth: NatsAuthKind, tls: ResolvedConfig['nats']['tls']): SecretEntry[] {
  const entries: SecretEntry[] = [
    { key: NATS_ENV.url, placeholder: 'nats://nats.nats.svc.cluster.local:4222', env: NATS_ENV.url, deployer: `${NATS_ENV.url}=<the cluster's NATS, reachable from you>` },
  ]
  switch (auth) {
    case 'creds':
      entries.push({ key: 'nats.creds', placeholder: '<the replica role\'s .creds file: nsc generate creds, or fn auth>', env: NATS_ENV.creds, file: `${NATS_SECRET_DIR}/nats.creds`, deployer: `${NATS_ENV.creds}=./deployer.creds` })
      break
    case 'token':
      entries.push({ key: NATS_ENV.token, placeholder: '<token>', env: NATS_ENV.token, deployer: `${NATS_ENV.token}=<deployer token>` })
      break
    case 'user':
      entries.push({ key: NATS_ENV.user, placeholder: '<user>', env: NATS_ENV.user, deployer: `${NATS_ENV.user}=<deployer>` })
      entries.push({ key: NATS_ENV.password, placeholder: '<password>', env: NATS_ENV.password, deployer: `${NATS_ENV.password}=<password>` })
      break
    case 'nkey':
      entries.push({ key: 'nats.nk', placeholder: '<user nkey seed, SU...>', env: NATS_ENV.nkey, file: `${NATS_SECRET_DIR}/nats.nk`, deployer: `${NATS_ENV.nkey}=./deployer.nk` })
      break
    case 'none':
      break
  }
  if (tls?.caFile) entries.push({ key: 'ca.crt', placeholder: '<PEM of the CA that signed the NATS servers\' certificates>', env: NATS_ENV.ca, file: `${NATS_TLS_DIR}/ca.crt`, deployer: `${NATS_ENV.ca}=./ca.crt` })
  if (tls?.certFile) entries.push({ key: 'tls.crt', placeholder: '<PEM client certificate>', env: NATS_ENV.cert, file: `${NATS_TLS_DIR}/tls.crt`, deployer: `${NATS_ENV.cert}=./deployer.crt` })
  if (tls?.keyFile) entries.push({ key: 'tls.key', placeholder: '<PEM client key>', env: NATS_ENV.key, file: `${NATS_TLS_DIR}/tls.key`, deployer: `${NATS_ENV.key}=./deployer.key` })
  return entries
}

/** The method `fn.config.ts` uses, as resolved here; `none` when it sets none. */
export function configAuthKind(nats: ResolvedConfig['nats']): NatsAuthKind {
  if (nats.credsFile !== undefined) return 'creds'
  if (nats.token !== undefined) return 'token'
  if (nats.user !== undefined) return 'user'
  if (nats.nkeySeed !== undefined || nats.nkeySeedFile !== undefined) return 'nkey'
  return 'none'
}

/** Credential fields of `fn.config.ts` whose values must never be baked into an image, and the method each belongs to. */
export const SECRET_CONFIG_FIELDS = { token: 'token', pass: 'user', nkeySeed: 'nkey' } as const satisfies Record<string, NatsAuthKind>
