/**
 * Credential and TLS files are read and checked before connecting: a file that is missing or is
 * not what its field says is a config error naming the field and the file, and never quotes a
 * secret. The certificates are made by openssl, as a user would.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAccount, createOperator, createUser, encodeAccount, encodeUser, fmtCreds } from '@nats-io/jwt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FnError } from '../../runtime/errors/fn-error.ts'
import { connectionAuth, connectionTls } from '../../runtime/nats/connection-options.ts'

let dir: string
const seed = new TextDecoder().decode(createUser().getSeed())
const path = (name: string) => join(dir, name)

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jetfn-conn-opts-'))
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=test CA')
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'other-key.pem', '-out', 'other.pem', '-days', '1', '-subj', '/CN=other')
  writeFileSync(path('user.nk'), `${seed}\n`)
  writeFileSync(path('account.nk'), new TextDecoder().decode(createAccount().getSeed()))
  writeFileSync(path('not-a-seed.nk'), 'SUthis-is-no-seed-hunter2')
  writeFileSync(path('garbage.creds'), 'hunter2')
  const account = createAccount()
  const user = createUser()
  await encodeAccount('A', account, {}, { signer: createOperator() })
  writeFileSync(path('app.creds'), fmtCreds(await encodeUser('app', user, account), user))
})

afterAll(() => rmSync(dir, { recursive: true, force: true }))

function failure(fn: () => unknown): FnError {
  try {
    fn()
  } catch (err) {
    if (err instanceof FnError) return err
    throw err
  }
  throw new Error('expected a failure')
}

describe('connectionAuth', () => {
  it('reads a creds file and tells the user and where it was set', () => {
    const auth = connectionAuth({ credsFile: path('app.creds'), origin: { auth: 'NATS_CREDS' } })
    expect(auth).toMatchObject({ from: 'NATS_CREDS', jwt: { name: 'app' }, publicKey: expect.stringMatching(/^U[A-Z2-7]{55}$/) })
    expect(auth.authenticator).toBeTypeOf('function')
  })

  it('reads a seed file and gives its public key, never the seed', () => {
    const auth = connectionAuth({ nkeySeedFile: path('user.nk') })
    expect(auth).toMatchObject({ from: "'nats.nkeySeedFile'", publicKey: expect.stringMatching(/^U/) })
    expect(JSON.stringify(auth)).not.toContain(seed)
  })

  it.each([
    [{ credsFile: 'missing.creds', origin: { auth: 'NATS_CREDS' } }, "NATS_CREDS: cannot read 'missing.creds' (no such file)"],
    [{ credsFile: 'GARBAGE' }, "'nats.credsFile': 'GARBAGE' is not a NATS credentials file: it needs a user JWT block and an NKey seed block"],
    [{ nkeySeedFile: 'NOT_A_SEED' }, "'nats.nkeySeedFile': 'NOT_A_SEED' is not a valid NKey seed (nkeys: invalid encoded key)"],
    [{ nkeySeedFile: 'ACCOUNT' }, "'nats.nkeySeedFile': 'ACCOUNT' is not an NKey user seed: its public key starts with 'A', a user's with 'U'"],
    [{ nkeySeed: 'SUhunter2' }, "'nats.nkeySeed' is not a valid NKey seed (nkeys: invalid encoded key)"],
  ])('refuses %j', (settings, message) => {
    const files: Record<string, string> = { GARBAGE: path('garbage.creds'), NOT_A_SEED: path('not-a-seed.nk'), ACCOUNT: path('account.nk') }
    const resolved = JSON.parse(JSON.stringify(settings).replace(/GARBAGE|NOT_A_SEED|ACCOUNT/, (k) => files[k]!)) as Record<string, string>
    const err = failure(() => connectionAuth(resolved))
    expect(err.code).toBe('FN_CONFIG_INVALID')
    expect(err.message).toBe(message.replace(/GARBAGE|NOT_A_SEED|ACCOUNT/, (k) => files[k]!))
    expect(err.message).not.toContain('hunter2')
  })
})

describe('connectionTls', () => {
  it('reads the PEM files', () => {
    const tls = connectionTls({ tls: { caFile: path('ca.pem'), certFile: path('other.pem'), keyFile: path('other-key.pem') } })
    expect(tls?.ca).toContain('BEGIN CERTIFICATE')
    expect(tls?.key).toContain('PRIVATE KEY')
  })

  it.each([
    [{ caFile: 'missing.pem' }, { caFile: 'NATS_CA' }, "NATS_CA: cannot read 'missing.pem' (no such file)"],
    [{ caFile: 'ca-key.pem' }, {}, "'nats.tls.caFile': 'ca-key.pem' is not a PEM certificate"],
    [{ certFile: 'ca-key.pem', keyFile: 'ca-key.pem' }, {}, "'nats.tls.certFile': 'ca-key.pem' is not a PEM certificate"],
    [{ certFile: 'ca.pem', keyFile: 'other-key.pem' }, { keyFile: 'NATS_KEY' }, "NATS_KEY: 'other-key.pem' is not the private key of 'nats.tls.certFile' 'ca.pem'"],
  ])('refuses %j', (files, origin, message) => {
    const tls = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v === 'missing.pem' ? v : path(v)]))
    const err = failure(() => connectionTls({ tls, origin }))
    expect(err.code).toBe('FN_CONFIG_INVALID')
    expect(err.message.replaceAll(`${dir}/`, '')).toContain(message)
  })
})
