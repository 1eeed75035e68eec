/**
 * What handler threads find in `process.env` (`pool.env`), and what the root logger hides.
 */
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { LOG_REDACT } from '../../runtime/log/redact.ts'
import { DEFAULT_POOL_ENV, handlerEnv, workerEnv } from '../../runtime/pool/worker-env.ts'

const env = {
  PATH: '/usr/bin',
  HOME: '/home/app',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  NODE_ENV: 'production',
  APP_DB_URL: 'postgres://db/app',
  APP_NATS: 'nats://app:replica-password@nats:4222',
  APP_TOKEN_COPY: 'replica-token-value',
  NATS_URL: 'nats://nats:4222',
  NATS_TOKEN: 'replica-token-value',
  NATS_CREDS: '/run/secrets/app.creds',
  AWS_SECRET_ACCESS_KEY: 'aws',
}

describe('workerEnv', () => {
  it('passes by default only locale, time zone, NODE_ENV and what child processes need', () => {
    expect(workerEnv(env, DEFAULT_POOL_ENV, []).env).toEqual({ PATH: '/usr/bin', HOME: '/home/app', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', NODE_ENV: 'production' })
  })

  it("keeps the replica's credentials from every pattern, by name and by value", () => {
    const r = workerEnv(env, ['*'], ['replica-token-value', 'replica-password'])
    expect(Object.keys(r.env).sort()).toEqual(['APP_DB_URL', 'AWS_SECRET_ACCESS_KEY', 'HOME', 'LANG', 'LC_ALL', 'NODE_ENV', 'PATH'])
    expect(r.withheld).toEqual(['APP_NATS', 'APP_TOKEN_COPY', 'NATS_CREDS', 'NATS_TOKEN', 'NATS_URL'])
  })

  it('passes a variable named exactly, whatever it holds', () => {
    expect(workerEnv(env, ['NATS_URL', 'APP_*'], ['replica-token-value']).env).toEqual({ NATS_URL: 'nats://nats:4222', APP_DB_URL: 'postgres://db/app', APP_NATS: env.APP_NATS })
  })

  it('matches a short secret only whole', () => {
    expect(workerEnv({ A_X: 'abc', A_Y: 'xabcx' }, ['A_*'], ['abc']).env).toEqual({ A_Y: 'xabcx' })
  })

  it("takes the secrets from the config's nats", () => {
    const r = handlerEnv({ pool: { env: ['APP_*'] }, nats: { token: 'replica-token-value', pass: undefined, nkeySeed: undefined } }, env)
    expect(r.env).toEqual({ APP_DB_URL: 'postgres://db/app', APP_NATS: env.APP_NATS })
    expect(r.withheld).toEqual(['APP_TOKEN_COPY'])
  })
})

describe('LOG_REDACT', () => {
  it('hides credential fields and the userinfo of URLs, one level deep', () => {
    let out = ''
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((out += chunk.toString()), done()) })
    const log = pino({ redact: LOG_REDACT, base: null, timestamp: false }, sink)
    log.info({ url: 'nats://u:pw1@h:1', servers: ['nats://tok2@h:2', 'nats://h:3'], nats: { token: 'tok3', pass: 'pw4', nkeySeed: 'SUseed5', servers: ['nats://a:pw6@x'] }, server: '127.0.0.1:4222' }, 'connected')
    const line = JSON.parse(out) as Record<string, unknown>
    expect(line).toEqual({
      level: 30,
      msg: 'connected',
      url: 'nats://u:***@h:1',
      servers: ['nats://***@h:2', 'nats://h:3'],
      nats: { token: '[redacted]', pass: '[redacted]', nkeySeed: '[redacted]', servers: ['nats://a:***@x'] },
      server: '127.0.0.1:4222',
    })
  })
})
