import { describe, expect, it } from 'vitest'
import { writeAccess, type WriteRequest } from '../../runtime/http/dashboard/dashboard-access.ts'

const TOKEN = 'a-token-of-sixteen-or-more'
const req = (over: Partial<WriteRequest> = {}): WriteRequest => ({
  method: 'POST',
  remoteAddress: '10.0.0.7',
  authorization: undefined,
  contentType: 'application/json',
  origin: undefined,
  host: 'replica:8787',
  ...over,
})

describe('dashboard write access', () => {
  it('with http.token: only a request carrying it as a bearer token, from any address', () => {
    expect(writeAccess(req({ authorization: `Bearer ${TOKEN}` }), TOKEN)).toEqual({ allowed: true })
    expect(writeAccess(req({ remoteAddress: '127.0.0.1' }), TOKEN)).toMatchObject({ allowed: false, status: 401 })
    expect(writeAccess(req({ authorization: 'Bearer wrong' }), TOKEN)).toMatchObject({ allowed: false, status: 401, reason: expect.stringContaining('not the one configured') })
  })

  it('without a token: read-only from anywhere but this machine', () => {
    expect(writeAccess(req(), undefined)).toMatchObject({ allowed: false, status: 403 })
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) expect(writeAccess(req({ remoteAddress }), undefined)).toEqual({ allowed: true })
  })

  it('refuses what another site could make a browser send: a form post, or another origin', () => {
    expect(writeAccess(req({ authorization: `Bearer ${TOKEN}`, contentType: 'application/x-www-form-urlencoded' }), TOKEN)).toMatchObject({ allowed: false, status: 415 })
    expect(writeAccess(req({ remoteAddress: '127.0.0.1', origin: 'https://evil.example' }), undefined)).toMatchObject({ allowed: false, status: 403 })
    expect(writeAccess(req({ remoteAddress: '127.0.0.1', origin: 'http://replica:8787' }), undefined)).toEqual({ allowed: true })
  })
})
