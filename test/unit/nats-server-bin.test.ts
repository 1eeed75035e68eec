import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FnErrorCode, isFnError } from '../../runtime/errors/fn-error.ts'
import { compareVersions, findNatsServer, parseNatsServerVersion } from '../../runtime/nats/nats-server-bin.ts'

describe('parseNatsServerVersion', () => {
  it('reads the version nats-server prints', () => {
    expect(parseNatsServerVersion('nats-server: v2.15.1\n')).toBe('2.15.1')
    expect(parseNatsServerVersion('nats-server: v2.9.10')).toBe('2.9.10')
    expect(parseNatsServerVersion('nats-server: v2.11.0-RC.2')).toBe('2.11.0-RC.2')
  })

  it('gives undefined when there is no version', () => {
    expect(parseNatsServerVersion('')).toBeUndefined()
    expect(parseNatsServerVersion('command not found')).toBeUndefined()
  })
})

describe('compareVersions', () => {
  it('orders numerically, not as strings', () => {
    expect(compareVersions('2.9.10', '2.10.0')).toBeLessThan(0)
    expect(compareVersions('2.15.1', '2.10.0')).toBeGreaterThan(0)
    expect(compareVersions('2.10.0', '2.10.0')).toBe(0)
    expect(compareVersions('v2.10', '2.10.0')).toBe(0)
  })

  it('puts a pre-release before its release', () => {
    expect(compareVersions('2.11.0-RC.1', '2.11.0')).toBeLessThan(0)
    expect(compareVersions('2.11.0', '2.11.0-RC.1')).toBeGreaterThan(0)
    expect(compareVersions('2.11.0-RC.1', '2.11.0-RC.2')).toBeLessThan(0)
  })
})

describe('findNatsServer', () => {
  const saved = { bin: process.env.NATS_SERVER_BIN, path: process.env.PATH }
  let dir: string

  /** Writes an executable that prints `output` to stdout and exits with `code`. */
  async function fakeServer(path: string, output: string, code = 0): Promise<string> {
    await mkdir(join(path, '..'), { recursive: true })
    await writeFile(path, `#!/bin/sh\necho '${output}'\nexit ${code}\n`)
    await chmod(path, 0o755)
    return path
  }

  function recorder() {
    const warnings: { obj: object; msg?: string }[] = []
    const noop = () => undefined
    return { warnings, logger: { info: noop, debug: noop, warn: (obj: object, msg?: string) => warnings.push({ obj, msg }) } }
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jetfn-bin-test-'))
  })

  afterEach(async () => {
    if (saved.bin === undefined) delete process.env.NATS_SERVER_BIN
    else process.env.NATS_SERVER_BIN = saved.bin
    process.env.PATH = saved.path
    await rm(dir, { recursive: true, force: true })
  })

  it('fails with FN_NATS_SERVER_NOT_FOUND when NATS_SERVER_BIN does not exist', async () => {
    process.env.NATS_SERVER_BIN = join(dir, 'no-such-nats-server')
    const err = await findNatsServer({ fetch: false }).catch((e: unknown) => e)
    expect(isFnError(err, FnErrorCode.NatsServerNotFound)).toBe(true)
    expect((err as Error).message).toContain('no-such-nats-server')
    expect((err as { hint?: string }).hint).toContain('brew install nats-server')
  })

  it('fails when NATS_SERVER_BIN does not run', async () => {
    process.env.NATS_SERVER_BIN = await fakeServer(join(dir, 'broken'), 'boom', 3)
    const err = await findNatsServer({ fetch: false }).catch((e: unknown) => e)
    expect(isFnError(err, FnErrorCode.NatsServerNotFound)).toBe(true)
  })

  it('uses NATS_SERVER_BIN and reports its version', async () => {
    const path = await fakeServer(join(dir, 'env-nats-server'), 'nats-server: v2.12.3')
    process.env.NATS_SERVER_BIN = path
    await expect(findNatsServer({ fetch: false })).resolves.toEqual({ path, version: '2.12.3' })
  })

  it('passes over a nats-server on PATH older than 2.10, with one warning naming its version', async () => {
    delete process.env.NATS_SERVER_BIN
    await fakeServer(join(dir, 'path/nats-server'), 'nats-server: v2.9.10')
    const local = await fakeServer(join(dir, 'project/.fn/bin/nats-server'), 'nats-server: v2.11.0')
    process.env.PATH = join(dir, 'path')
    const { warnings, logger } = recorder()
    const found = await findNatsServer({ cwd: join(dir, 'project'), fetch: false, logger })
    expect(found).toEqual({ path: local, version: '2.11.0' })
    expect(warnings).toHaveLength(1)
    expect(JSON.stringify(warnings[0])).toContain('2.9.10')
  })

  it('prefers a recent nats-server on PATH to .fn/bin', async () => {
    delete process.env.NATS_SERVER_BIN
    const onPath = await fakeServer(join(dir, 'path/nats-server'), 'nats-server: v2.15.1')
    await fakeServer(join(dir, 'project/.fn/bin/nats-server'), 'nats-server: v2.11.0')
    process.env.PATH = join(dir, 'path')
    await expect(findNatsServer({ cwd: join(dir, 'project'), fetch: false })).resolves.toEqual({
      path: onPath,
      version: '2.15.1',
    })
  })
})
