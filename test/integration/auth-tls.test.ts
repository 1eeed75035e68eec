/**
 * TLS and mutual TLS end to end (fn deploy, fn start, fn invoke, fn ls, fn dlq ls, fn dev against
 * the external server), with certificates made by openssl, set in fn.config.ts (`nats.tls`) or
 * the environment (`NATS_CA`, `NATS_CERT`, `NATS_KEY`); and each way TLS fails said in one line
 * with `FN_NATS_TLS_FAILED` and the setting to fix, instead of a timeout.
 */
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { makeCertificates, tlsServerConfig, type TestCertificates } from '../helpers/auth-fixtures.ts'
import { expectEndToEnd, expectNoSecrets } from '../helpers/auth-scenario.ts'
import { writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

let certs: TestCertificates
let tlsServer: NatsServerProcess
let mtlsServer: NatsServerProcess
let plainServer: NatsServerProcess
let project: DevProject
/** The body of the client's private key: printing any of it would leak it. */
let keySecrets: string[]

beforeAll(async () => {
  certs = await makeCertificates()
  ;[tlsServer, mtlsServer, plainServer] = await Promise.all([
    startServer({ extraConfig: tlsServerConfig(certs) }),
    startServer({ extraConfig: tlsServerConfig(certs, { verify: true }) }),
    startServer(),
  ])
  keySecrets = (await readFile(certs.clientKey, 'utf8')).split('\n').filter((l) => l.length >= 16 && !l.startsWith('-----'))
  const prefix = uniquePrefix()
  project = await writeDevProject({ prefix, config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], http: { port: 0 } }, functions: {} })
})

afterAll(async () => {
  await project?.remove()
  await Promise.all([tlsServer?.stop(), mtlsServer?.stop(), plainServer?.stop()])
  await certs?.remove()
})

const mtlsEnv = () => ({ NATS_CA: certs.ca, NATS_CERT: certs.clientCert, NATS_KEY: certs.clientKey })

it('TLS with the CA in fn.config.ts: every command and fn start / fn dev work', async () => {
  const printed = await expectEndToEnd({ prefix: uniquePrefix(), url: tlsServer.url, nats: { tls: { caFile: certs.ca } }, admin: { servers: [tlsServer.url], tls: { caFile: certs.ca } } })
  expectNoSecrets(printed, keySecrets)
})

it('mutual TLS with NATS_CA, NATS_CERT, NATS_KEY and a tls:// URL: every command and fn start / fn dev work', async () => {
  const url = mtlsServer.url.replace('nats://', 'tls://')
  const printed = await expectEndToEnd({
    prefix: uniquePrefix(),
    url,
    env: mtlsEnv(),
    admin: { servers: [url], tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey } },
  })
  expectNoSecrets(printed, keySecrets)
})

it('a server certificate from an unknown CA is refused, with or without a CA configured', async () => {
  const [noCa, otherCa] = await Promise.all([
    runFn(project, ['ls'], tlsServer.url),
    runFn(project, ['deploy'], tlsServer.url, { NATS_CA: certs.otherCa }),
  ])
  const failure = `FN_NATS_TLS_FAILED: TLS with the NATS server at ${tlsServer.url} failed: the server's certificate is not signed by a CA this client trusts (unable to verify the first certificate: UNABLE_TO_VERIFY_LEAF_SIGNATURE)\n`
  expect(noCa.stderr).toBe(`${failure}hint: set NATS_CA or 'nats.tls.caFile' to the PEM file of the CA that signed the server's certificate\n`)
  expect(otherCa.stderr).toBe(`${failure}hint: NATS_CA ('${certs.otherCa}') is not the CA that signed the server's certificate\n`)
  expect([noCa.code, otherCa.code]).toEqual([1, 1])
})

it('a mutual-TLS server given no client certificate, or one it does not trust, is refused with the reason', async () => {
  const noCert = spawnStart(project, mtlsServer.url, 'fn start', [], undefined, { NATS_CA: certs.ca })
  const stranger = runFn(project, ['ls'], mtlsServer.url, { NATS_CA: certs.ca, NATS_CERT: certs.strangerCert, NATS_KEY: certs.strangerKey })
  expect(await noCert.exited).toBe(1)
  expect(noCert.stderr()).toBe(
    `FN_NATS_TLS_FAILED: TLS with the NATS server at ${mtlsServer.url} failed: the server requires a client certificate (mutual TLS) (tlsv13 alert certificate required: ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)\n` +
      "hint: set NATS_CERT and NATS_KEY, or 'nats.tls.certFile' and 'nats.tls.keyFile', to a client certificate signed by a CA the server trusts\n",
  )
  const refused = await stranger
  expect(refused.code).toBe(1)
  expect(refused.stderr).toMatch(
    new RegExp(`^FN_NATS_TLS_FAILED: TLS with the NATS server at ${mtlsServer.url} failed: the server refused the client certificate \\(.*\\)\nhint: NATS_CERT \\('${certs.strangerCert}'\\) must be signed by a CA in the server's tls ca_file, and be valid now\n$`),
  )
  expectNoSecrets([noCert.output(), refused.stdout, refused.stderr], keySecrets)
})

it('TLS asked of a server without TLS, and a key that is not the certificate’s, are refused before anything is sent', async () => {
  const noTls = await runFn(project, ['ls'], plainServer.url, { NATS_CA: certs.ca })
  expect(noTls.code).toBe(1)
  expect(noTls.stderr).toBe(`FN_NATS_TLS_FAILED: the NATS server at ${plainServer.url} does not offer TLS, and NATS_CA asks for it\nhint: enable TLS on the server, or remove NATS_CA\n`)
  const mismatch = await runFn(project, ['ls'], mtlsServer.url, { ...mtlsEnv(), NATS_KEY: certs.strangerKey })
  expect(mismatch.code).toBe(1)
  expect(mismatch.stderr).toBe(`FN_CONFIG_INVALID: NATS_KEY: '${certs.strangerKey}' is not the private key of NATS_CERT '${certs.clientCert}' (ERR_OSSL_X509_KEY_VALUES_MISMATCH)\n`)
})
