/**
 * How `nats` is resolved from fn.config.ts, the `NATS_*` variables and credentials inside server
 * URLs, and that no error about them quotes a secret.
 */
import { describe, expect, it } from 'vitest'
import { resolveConfig } from '../../runtime/config/config-schema.ts'
import { FnError } from '../../runtime/errors/fn-error.ts'
import { redactUrl, redactUrlsIn, splitServerUrl } from '../../runtime/nats/server-url.ts'

const file = 'fn.config.ts'
const nats = (input: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => resolveConfig({ nats: input }, { file, env }).nats

function failure(input: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): FnError {
  try {
    nats(input, env)
  } catch (err) {
    if (err instanceof FnError) return err
    throw err
  }
  throw new Error('expected resolveConfig to throw')
}

describe('server URLs with credentials', () => {
  it.each([
    ['nats://alice:s3cret@h:4222', { url: 'nats://h:4222', credentials: { user: 'alice', pass: 's3cret' } }],
    ['nats://t0ken@h:4222', { url: 'nats://h:4222', credentials: { token: 't0ken' } }],
    ['tls://a%40b:p%3Aq%2Fr@h', { url: 'tls://h', credentials: { user: 'a@b', pass: 'p:q/r' } }],
    ['alice:pw@h:4222', { url: 'h:4222', credentials: { user: 'alice', pass: 'pw' } }],
    ['nats://h:4222', { url: 'nats://h:4222' }],
    ['nats://@h:4222', { url: 'nats://h:4222' }],
  ])('splits %s', (url, expected) => {
    expect(splitServerUrl(url)).toEqual(expected)
  })

  it('redacts userinfo, alone or inside text', () => {
    expect(redactUrl('nats://alice:s3cret@h:4222')).toBe('nats://alice:***@h:4222')
    expect(redactUrl('nats://t0ken@h:4222')).toBe('nats://***@h:4222')
    expect(redactUrl('nats://h:4222')).toBe('nats://h:4222')
    expect(redactUrlsIn('at nats://a:b@x:1, tls://tok@y:2 and http://z/p@q')).toBe('at nats://a:***@x:1, tls://***@y:2 and http://z/p@q')
  })
})

describe('resolveConfig: nats', () => {
  it('takes credentials out of nats.servers and uses them', () => {
    expect(nats({ servers: ['nats://app:pw@a:1', 'nats://app:pw@b:2'] })).toMatchObject({
      servers: ['nats://a:1', 'nats://b:2'],
      user: 'app',
      pass: 'pw',
      origin: { auth: "the userinfo of fn.config.ts: 'nats.servers'" },
    })
  })

  it('takes credentials out of NATS_URL, and they replace the auth of the file', () => {
    const n = nats({ token: 'file-token' }, { NATS_URL: 'nats://env-token@e:1,nats://env-token@f:2' })
    expect(n).toMatchObject({ servers: ['nats://e:1', 'nats://f:2'], serversSource: 'env', token: 'env-token', origin: { auth: 'the userinfo of NATS_URL' } })
  })

  it.each([
    [{ NATS_TOKEN: 'tk' }, { token: 'tk' }, 'NATS_TOKEN'],
    [{ NATS_USER: 'u', NATS_PASSWORD: 'p' }, { user: 'u', pass: 'p' }, 'NATS_USER/NATS_PASSWORD'],
    [{ NATS_NKEY: '/run/secrets/user.nk' }, { nkeySeedFile: '/run/secrets/user.nk' }, 'NATS_NKEY'],
    [{ NATS_CREDS: '/run/secrets/app.creds' }, { credsFile: '/run/secrets/app.creds' }, 'NATS_CREDS'],
  ])('%j replaces the way to authenticate of the file', (env, fields, origin) => {
    const n = nats({ servers: 'nats://s:1', credsFile: 'file.creds' }, env)
    expect(n).toMatchObject({ ...fields, servers: ['nats://s:1'], serversSource: 'config', origin: { auth: origin } })
    for (const key of ['token', 'user', 'pass', 'nkeySeed', 'nkeySeedFile', 'credsFile'] as const) {
      if (!(key in fields)) expect(n[key]).toBeUndefined()
    }
  })

  it('keeps the auth of the file when the environment sets none, and names where it came from', () => {
    expect(nats({ nkeySeedFile: 'u.nk' }, { NATS_URL: 'nats://e:1' })).toMatchObject({ nkeySeedFile: 'u.nk', origin: { auth: "fn.config.ts: 'nats.nkeySeedFile'" } })
    expect(nats({}).origin).toEqual({})
  })

  it('lets NATS_CA, NATS_CERT, NATS_KEY replace the TLS files one by one', () => {
    const n = nats({ tls: { caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'k.pem' } }, { NATS_CA: '/s/ca.pem' })
    expect(n.tls).toEqual({ caFile: '/s/ca.pem', certFile: 'c.pem', keyFile: 'k.pem' })
    expect(n.origin).toEqual({ caFile: 'NATS_CA', certFile: "fn.config.ts: 'nats.tls.certFile'", keyFile: "fn.config.ts: 'nats.tls.keyFile'" })
    expect(nats({}, { NATS_CERT: 'c', NATS_KEY: 'k' }).tls).toEqual({ certFile: 'c', keyFile: 'k' })
  })

  it('treats an empty variable as unset', () => {
    expect(nats({ token: 'file' }, { NATS_TOKEN: '', NATS_URL: '' })).toMatchObject({ token: 'file', serversSource: 'default' })
  })

  it.each([
    [{}, { NATS_TOKEN: 'hunter2-token', NATS_CREDS: 'a.creds' }, 'NATS_TOKEN and NATS_CREDS are set together: use one way to authenticate'],
    [{}, { NATS_URL: 'nats://u:hunter2@h', NATS_TOKEN: 'hunter2' }, 'the userinfo of NATS_URL and NATS_TOKEN are set together: use one way to authenticate'],
    [{}, { NATS_USER: 'u' }, 'NATS_USER is set without NATS_PASSWORD'],
    [{}, { NATS_PASSWORD: 'hunter2' }, 'NATS_PASSWORD is set without NATS_USER'],
    [{}, { NATS_URL: 'nats://a:hunter2@h:1,nats://b:hunter2@h:2' }, 'NATS_URL lists URLs with different credentials: jetfn connects with one set'],
    [{ servers: 'nats://u:hunter2@h', token: 'hunter2' }, {}, "fn.config.ts: 'nats.servers' carries credentials in a URL, and fn.config.ts: 'nats.token' is set too: use one way to authenticate"],
    [{}, { NATS_CERT: 'c.pem' }, "NATS_CERT sets a client certificate without a key: set NATS_KEY or 'nats.tls.keyFile' too"],
  ])('refuses %j with %j', (input, env, message) => {
    const err = failure(input, env)
    expect(err.code).toBe('FN_CONFIG_INVALID')
    expect(err.message).toBe(message)
    expect(`${err.message} ${err.hint ?? ''}`).not.toContain('hunter2')
  })
})
