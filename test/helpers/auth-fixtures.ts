/**
 * What the tests of authentication and TLS need, made as a user would make it: certificates by
 * `openssl` (a CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and a
 * second CA nobody trusts), an operator/account/user JWT chain for a server in operator mode with
 * a memory resolver, and the nats-server config blocks that use them.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds, type KeyPair } from '@nats-io/jwt'

const run = promisify(execFile)

/** PEM files in a temp directory; `remove()` deletes it. */
export interface TestCertificates {
  dir: string
  ca: string
  serverCert: string
  serverKey: string
  clientCert: string
  clientKey: string
  /** A client certificate signed by `otherCa`, which the server does not trust. */
  strangerCert: string
  strangerKey: string
  /** A CA that signed nothing the server uses. */
  otherCa: string
  remove(): Promise<void>
}

/** Makes a CA and the certificates signed by it (EC P-256: fast to generate), valid for a day. */
export async function makeCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'jetfn-tls-'))
  const ssl = (...args: string[]) => run('openssl', args, { cwd: dir })
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await Promise.all([
    ssl('req', '-x509', ...key, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=jetfn test CA'),
    ssl('req', '-x509', ...key, '-keyout', 'other-ca-key.pem', '-out', 'other-ca.pem', '-days', '1', '-subj', '/CN=unknown CA'),
  ])
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  const sign = async (name: string, cn: string, ca: string, ext: string) => {
    await ssl('req', ...key, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`)
    await ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', ext)
  }
  await Promise.all([
    sign('server', '127.0.0.1', 'ca', 'server.ext'),
    sign('client', 'jetfn replica', 'ca', 'client.ext'),
    sign('stranger', 'stranger', 'other-ca', 'client.ext'),
  ])
  const p = (f: string) => join(dir, f)
  return {
    dir,
    ca: p('ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server-key.pem'),
    clientCert: p('client.pem'),
    clientKey: p('client-key.pem'),
    strangerCert: p('stranger.pem'),
    strangerKey: p('stranger-key.pem'),
    otherCa: p('other-ca.pem'),
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}

/** The `tls` block of a server using `certs`; `verify` requires client certificates (mutual TLS). */
export function tlsServerConfig(certs: TestCertificates, opts: { verify?: boolean } = {}): string {
  const q = JSON.stringify
  return `tls { cert_file: ${q(certs.serverCert)}, key_file: ${q(certs.serverKey)}, ca_file: ${q(certs.ca)}, verify: ${opts.verify === true}, timeout: 2 }`
}

/** An operator, a system account and one JetStream-enabled account, as a server config and creds files. */
export interface OperatorSetup {
  /** `operator`, `system_account`, `resolver: MEMORY` and `resolver_preload` for nats-server. */
  serverConfig: string
  /** The content of a `.creds` file for a new user of the JetStream account. */
  creds(name: string, opts?: { expiresAt?: Date }): Promise<Uint8Array>
  /** The content of a `.creds` file for a user of an account the server does not know. */
  strangerCreds(): Promise<Uint8Array>
}

// Unlimited: the jwt library's defaults allow no connection, subscription or JetStream at all.
const UNLIMITED = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
}

/** Makes an operator/account/user chain with `@nats-io/jwt`, as `nsc` would. */
export async function makeOperator(): Promise<OperatorSetup> {
  const operator = createOperator()
  const system = createAccount()
  const app = createAccount()
  const [operatorJwt, systemJwt, appJwt] = await Promise.all([
    encodeOperator('jetfn-test', operator, { system_account: system.getPublicKey() }),
    encodeAccount('SYS', system, {}, { signer: operator }),
    encodeAccount('APP', app, { limits: UNLIMITED }, { signer: operator }),
  ])
  const q = JSON.stringify
  const serverConfig = [
    `operator: ${q(operatorJwt)}`,
    `system_account: ${system.getPublicKey()}`,
    'resolver: MEMORY',
    `resolver_preload: { ${system.getPublicKey()}: ${q(systemJwt)}, ${app.getPublicKey()}: ${q(appJwt)} }`,
  ].join('\n')
  const userCreds = async (name: string, account: KeyPair, expiresAt?: Date) => {
    const user = createUser()
    const jwt = await encodeUser(name, user, account, {}, expiresAt ? { exp: Math.floor(expiresAt.getTime() / 1000) } : {})
    return fmtCreds(jwt, user)
  }
  return {
    serverConfig,
    creds: (name, opts = {}) => userCreds(name, app, opts.expiresAt),
    strangerCreds: () => userCreds('stranger', createAccount()),
  }
}

/** The seed of a new NKey user, and the `authorization` block that admits it. */
export function makeNkeyUser(): { seed: string; publicKey: string; serverConfig: string } {
  const user = createUser()
  const publicKey = user.getPublicKey()
  return { seed: new TextDecoder().decode(user.getSeed()), publicKey, serverConfig: `authorization { users: [{ nkey: ${publicKey} }] }` }
}
