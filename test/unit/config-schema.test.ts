import { availableParallelism } from 'node:os'
import { describe, expect, it } from 'vitest'
import { resolveConfig, subjectsOverlap } from '../../runtime/config/config-schema.ts'
import { defineConfig } from '../../runtime/define.ts'
import { FnError } from '../../runtime/errors/fn-error.ts'

const file = 'fn.config.ts'
const resolve = (input: unknown, env: NodeJS.ProcessEnv = {}) => resolveConfig(input, { file, env })

/** The FnError thrown by resolving `input`. */
function failure(input: unknown): FnError {
  try {
    resolve(input)
  } catch (err) {
    if (err instanceof FnError) return err
    throw err
  }
  throw new Error('expected resolveConfig to throw')
}

describe('resolveConfig', () => {
  it('fills every default for an empty config', () => {
    expect(resolve({})).toEqual({
      nats: { servers: ['nats://127.0.0.1:4222'], serversSource: 'default', name: 'jetfn', origin: {} },
      streams: [],
      defaults: {
        concurrency: 8,
        timeoutMs: 30_000,
        timeoutGraceMs: 1_000,
        ackWaitMs: 30_000,
        retry: { maxDeliver: 5, backoffMs: [1_000, 10_000, 60_000], jitter: 0.2 },
      },
      pool: { threads: availableParallelism(), maxOldGenerationSizeMb: 512, env: ['NODE_ENV', 'TZ', 'LANG', 'LC_*', 'PATH', 'HOME', 'TMPDIR'] },
      dlq: { stream: 'FN_DLQ', subjectPrefix: 'fn.dlq' },
      http: { port: 8787, portSource: 'default' },
      otel: { exportDelayMs: 1_000 },
      jetfn: {},
      provision: true,
      auth: { outputs: [] },
      shutdownGraceMs: 30_000,
      functionsDir: 'functions',
    })
  })

  it('reads provision and auth.outputs', () => {
    expect(resolve({ provision: false, auth: { outputs: ['audit.>', 'mail.send'] } })).toMatchObject({ provision: false, auth: { outputs: ['audit.>', 'mail.send'] } })
    expect(failure({ provision: 'no' }).message).toBe("fn.config.ts: 'provision' must be true or false (got 'no')")
    expect(failure({ auth: { outputs: ['a b'] } }).message).toMatch(/^fn\.config\.ts: 'auth\.outputs\[0\]' /)
  })

  it('resolves the example of DESIGN.md', () => {
    const input = defineConfig({
      nats: { servers: 'nats://127.0.0.1:4222' },
      streams: [{ name: 'ORDERS', subjects: ['orders.>'], storage: 'file', replicas: 1, maxAge: '7d', duplicateWindow: '2m' }],
      defaults: { concurrency: 8, timeout: '30s', retry: { maxDeliver: 5, backoff: ['1s', '10s', '1m'], jitter: 0.2 } },
      pool: { threads: 2, maxOldGenerationSizeMb: 512 },
      dlq: { stream: 'FN_DLQ' },
      http: { port: 0 },
    })
    const config = resolve(input)
    expect(config.nats).toEqual({ servers: ['nats://127.0.0.1:4222'], serversSource: 'config', name: 'jetfn', origin: {} })
    expect(config.streams).toEqual([
      {
        name: 'ORDERS',
        subjects: ['orders.>'],
        storage: 'file',
        replicas: 1,
        maxAgeMs: 604_800_000,
        duplicateWindowMs: 120_000,
        written: ['subjects', 'storage', 'replicas', 'maxAge', 'duplicateWindow'],
      },
    ])
    expect(config.pool.threads).toBe(2)
    expect(config.http.port).toBe(0)
  })

  it('fills stream defaults and keeps which fields were written', () => {
    expect(resolve({ streams: [{ name: 'A', subjects: ['a.>'] }] }).streams).toEqual([
      { name: 'A', subjects: ['a.>'], storage: 'file', replicas: 1, maxAgeMs: 0, duplicateWindowMs: 120_000, written: ['subjects'] },
    ])
    expect(resolve({ streams: [{ name: 'A', subjects: ['a.>'], replicas: 3, maxAge: '1h' }] }).streams[0]).toMatchObject({
      replicas: 3,
      maxAgeMs: 3_600_000,
      duplicateWindowMs: 120_000,
      written: ['subjects', 'replicas', 'maxAge'],
    })
  })

  it("takes jetfn's own replicas from the file, or leaves them to the cluster", () => {
    expect(resolve({}).jetfn).toEqual({})
    expect(resolve({ jetfn: { replicas: 3 } }).jetfn).toEqual({ replicas: 3 })
  })

  it('deep-freezes the result and leaves the input untouched', () => {
    const input = { defaults: { retry: { backoff: ['1s'] } }, streams: [{ name: 'A', subjects: ['a'] }] }
    const before = structuredClone(input)
    const config = resolve(input)
    expect(input).toEqual(before)
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.defaults.retry.backoffMs)).toBe(true)
    expect(Object.isFrozen(config.streams[0])).toBe(true)
    expect(Object.isFrozen(config.nats.servers)).toBe(true)
  })

  it('lets NATS_URL (comma-separated) win over nats.servers', () => {
    const config = resolve({ nats: { servers: 'nats://config:4222' } }, { NATS_URL: 'nats://a:4222, nats://b:4222' })
    expect(config.nats.servers).toEqual(['nats://a:4222', 'nats://b:4222'])
    expect(config.nats.serversSource).toBe('env')
    expect(resolve({}, { NATS_URL: ' ' }).nats.serversSource).toBe('default')
  })

  it('accepts servers as a list or a comma-separated string', () => {
    expect(resolve({ nats: { servers: ['nats://a:1', 'nats://b:2'] } }).nats.servers).toEqual(['nats://a:1', 'nats://b:2'])
    expect(resolve({ nats: { servers: 'nats://a:1,nats://b:2' } }).nats.servers).toEqual(['nats://a:1', 'nats://b:2'])
  })

  it('names the file, the field and the value', () => {
    const err = failure({ defaults: { retry: { maxDeliver: 0 } } })
    expect(err.code).toBe('FN_CONFIG_INVALID')
    expect(err.message).toBe("fn.config.ts: 'defaults.retry.maxDeliver' must be at least 1 (got 0)")
    expect(err.cause).toBeDefined()
  })

  it.each([
    [{ defaults: { concurrency: 0 } }, "'defaults.concurrency' must be at least 1 (got 0)"],
    [{ defaults: { concurrency: 10_001 } }, "'defaults.concurrency' must be at most 10000 (got 10001)"],
    [{ defaults: { concurrency: 1.5 } }, "'defaults.concurrency' must be an integer (got 1.5)"],
    [{ defaults: { concurrency: '8' } }, "'defaults.concurrency' must be a number (got '8')"],
    [{ defaults: { timeout: 'abc' } }, "'defaults.timeout' must be a duration like '10s' or a number of ms (got 'abc')"],
    [{ defaults: { timeout: 0 } }, "'defaults.timeout' must be greater than 0 (got 0)"],
    [{ defaults: { ackWait: '500ms' } }, "'defaults.ackWait' must be at least 1s (got '500ms')"],
    [{ defaults: { retry: { backoff: [] } } }, "'defaults.retry.backoff' must not be empty (got [])"],
    [{ defaults: { retry: { backoff: ['1s', 'soon'] } } }, "'defaults.retry.backoff[1]' must be a duration like '10s' or a number of ms (got 'soon')"],
    [{ defaults: { retry: { jitter: 1.5 } } }, "'defaults.retry.jitter' must be at most 1 (got 1.5)"],
    [{ streams: [{ subjects: ['a'] }] }, "'streams[0].name' is required"],
    [{ jetfn: { replicas: 0 } }, "'jetfn.replicas' must be at least 1 (got 0)"],
    [{ jetfn: { replicas: 7 } }, "'jetfn.replicas' must be at most 5 (got 7)"],
    [{ streams: [{ name: 'A.B', subjects: ['a'] }] }, "'streams[0].name' must not contain whitespace, '.', '*', '>', '/' or '\\' (got 'A.B')"],
    [{ streams: [{ name: 'A', subjects: [] }] }, "'streams[0].subjects' must not be empty (got [])"],
    [{ streams: [{ name: 'A', subjects: ['a..b'] }] }, "'streams[0].subjects[0]' is not a valid NATS subject: it has an empty token (got 'a..b')"],
    [{ streams: [{ name: 'A', subjects: ['a'], storage: 'disk' }] }, "'streams[0].storage' must be one of 'file', 'memory' (got 'disk')"],
    [{ streams: [{ name: 'A', subjects: ['a'], replicas: 7 }] }, "'streams[0].replicas' must be at most 5 (got 7)"],
    [{ streams: [{ name: 'A', subjects: ['a'], maxAge: '1m' }] }, "'streams[0].duplicateWindow' must not be longer than maxAge (got '2m' with maxAge '1m')"],
    [{ streams: {} }, "'streams' must be an array (got {})"],
    [{ nats: { servers: 5 } }, "'nats.servers' must be a server URL or a list of them (got 5)"],
    [{ nats: { servers: ' , ' } }, "'nats.servers' must name at least one server (got ' , ')"],
    [{ nats: { user: 'me' } }, "'nats.pass' is required when 'nats.user' is set"],
    [{ nats: { token: 't', credsFile: 'a.creds' } }, "'nats.credsFile' cannot be combined with 'nats.token': use one way to authenticate"],
    [{ nats: { tls: { certFile: 'c.pem' } } }, "'nats.tls.keyFile' is required when 'nats.tls.certFile' is set"],
    [{ nats: { nkeySeed: 'SU', nkeySeedFile: 'u.nk' } }, "'nats.nkeySeedFile' cannot be combined with 'nats.nkeySeed': use one way to authenticate"],
    [{ pool: { env: ['DATABASE-URL'] } }, "'pool.env[0]' must be a variable name or a pattern with '*' such as 'APP_*' (got 'DATABASE-URL')"],
    [{ pool: { env: 'APP_*' } }, "'pool.env' must be an array (got 'APP_*')"],
    [{ pool: { threads: 0 } }, "'pool.threads' must be at least 1 (got 0)"],
    [{ pool: { maxOldGenerationSizeMb: 8 } }, "'pool.maxOldGenerationSizeMb' must be at least 32 (got 8)"],
    [{ http: { port: 70_000 } }, "'http.port' must be at most 65535 (got 70000)"],
    [{ dlq: { stream: '' } }, "'dlq.stream' must not be empty (got '')"],
    [{ shutdownGrace: '30d' }, "'shutdownGrace' must be at most 24d (got '30d')"],
    [{ functionsDir: '' }, "'functionsDir' must not be empty (got '')"],
  ])('rejects %j', (input, message) => {
    expect(failure(input).message).toBe(`fn.config.ts: ${message}`)
  })

  it('never quotes credentials', () => {
    expect(failure({ nats: { token: 12345 } }).message).toBe("fn.config.ts: 'nats.token' must be a string")
    expect(failure({ nats: { user: 'me', pass: 42 } }).message).toBe("fn.config.ts: 'nats.pass' must be a string")
    expect(failure({ nats: { servers: ['nats://me:hunter2@a:1', 5] } }).message).toBe(
      "fn.config.ts: 'nats.servers' must be a server URL or a list of them (got [\"nats://me:***@a:1\",5])",
    )
    expect(failure({ nats: { servers: { url: 'nats://tok3n@a:1' } } }).message).toBe(
      "fn.config.ts: 'nats.servers' must be a server URL or a list of them (got {\"url\":\"nats://***@a:1\"})",
    )
  })

  it('names unknown keys and the known ones', () => {
    expect(failure({ nats: { servrs: 'x' }, shutdown: 1 }).message).toBe(
      [
        "fn.config.ts: 'nats.servrs' is not a known field (expected one of 'servers', 'token', 'user', 'pass', 'nkeySeed', 'nkeySeedFile', 'credsFile', 'tls', 'name')",
        "fn.config.ts: 'shutdown' is not a known field (expected one of 'nats', 'streams', 'defaults', 'pool', 'dlq', 'http', 'otel', 'jetfn', 'provision', 'auth', 'shutdownGrace', 'functionsDir')",
      ].join('\n'),
    )
  })

  it('lists every problem, one per line', () => {
    expect(failure({ defaults: { concurrency: 0, retry: { maxDeliver: 0 } }, http: { port: -1 } }).message).toBe(
      [
        "fn.config.ts: 'defaults.concurrency' must be at least 1 (got 0)",
        "fn.config.ts: 'defaults.retry.maxDeliver' must be at least 1 (got 0)",
        "fn.config.ts: 'http.port' must be at least 0 (got -1)",
      ].join('\n'),
    )
  })

  it('refuses streams JetStream would refuse together', () => {
    const err = failure({
      streams: [
        { name: 'A', subjects: ['orders.>'] },
        { name: 'A', subjects: ['*.created'] },
        { name: 'FN_DLQ', subjects: ['fn.dlq.orders'] },
      ],
    })
    expect(err.message).toBe(
      [
        "fn.config.ts: 'streams[1].name' duplicates 'streams[0].name' (got 'A')",
        "fn.config.ts: 'streams[1].subjects[0]' overlaps 'streams[0].subjects[0]' ('orders.>') (got '*.created')",
        "fn.config.ts: 'streams[2].name' is the dead-letter stream 'dlq.stream' (got 'FN_DLQ')",
        "fn.config.ts: 'streams[2].subjects[0]' overlaps the dead-letter subjects 'fn.dlq.>' (got 'fn.dlq.orders')",
      ].join('\n'),
    )
  })

  it('describes a default export that is not an object', () => {
    expect(failure(42).message).toBe('fn.config.ts: the default export must be an object (got 42)')
  })
})

describe('subjectsOverlap', () => {
  it.each([
    ['a.b', 'a.b', true],
    ['a.b', 'a.c', false],
    ['a.*', 'a.b', true],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['a.*', 'a.b.c', false],
    ['*.b', 'a.*', true],
    ['>', 'x', true],
  ])('%s and %s: %s', (a, b, overlap) => {
    expect(subjectsOverlap(a, b)).toBe(overlap)
    expect(subjectsOverlap(b, a)).toBe(overlap)
  })
})
