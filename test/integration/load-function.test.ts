/**
 * Function files that cannot run are refused with their file and the reason, and nothing of
 * them is started; a valid one resolves to its options.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspectBundle } from '../../runtime/deploy/inspect-bundle.ts'
import { buildFunctionFile } from '../../runtime/deploy/load-function.ts'
import { FnErrorCode } from '../../runtime/errors/fn-error.ts'
import { FIXTURES, testConfig } from '../helpers/runtime.ts'

const config = testConfig('nats://127.0.0.1:1')
const home = join(FIXTURES, '..', '..', '..', '.fn', 'test')
const cwd = join(FIXTURES, '..', '..', '..')
const build = (name: string) => buildFunctionFile(join(FIXTURES, `${name}.ts`), { config, home, cwd })

describe('loading a function file', () => {
  it('resolves a valid file: name from the file, defaults from the config, version = bundle hash', async () => {
    const a = await build('schema')
    const b = await build('schema')
    expect(a.options).toMatchObject({ name: 'schema', subject: 'fixture.schema', hasSchema: true, decode: 'json', concurrency: 8, timeoutMs: 30_000 })
    expect(a.options.retry).toEqual({ maxDeliver: 5, backoffMs: [1_000, 10_000, 60_000], jitter: 0.2 })
    expect(a.version).toMatch(/^[0-9a-f]{64}$/)
    expect(b.version).toBe(a.version)
  })

  it('a build error names the file, line and column', async () => {
    await expect(build('build-error')).rejects.toMatchObject({
      code: FnErrorCode.FunctionLoadFailed,
      message: expect.stringMatching(/^test\/fixtures\/functions\/build-error\.ts: build failed: .*build-error\.ts:\d+:\d+: /),
    })
  })

  it('a module that throws at import is refused with its error', async () => {
    await expect(build('throws-at-import')).rejects.toMatchObject({
      code: FnErrorCode.FunctionLoadFailed,
      message: 'test/fixtures/functions/throws-at-import.ts: throws at import: cannot start: missing API key',
    })
  })

  it('an export that is not a function definition is refused', async () => {
    await expect(build('bad-export')).rejects.toMatchObject({
      code: FnErrorCode.FunctionInvalid,
      message: expect.stringContaining("test/fixtures/functions/bad-export.ts: 'handler' must be a function"),
    })
  })

  it('invalid options are refused with the field and the value', async () => {
    await expect(build('invalid-options')).rejects.toMatchObject({
      code: FnErrorCode.FunctionInvalid,
      message: "test/fixtures/functions/invalid-options.ts: 'retry.maxDeliver' must be at least 1 (got 0)",
    })
  })
})

describe('inspecting a bundle in a throwaway thread', () => {
  let dir: string
  const bundle = async (name: string, source: string): Promise<string> => {
    const path = join(dir, `${name}.mjs`)
    await writeFile(path, source)
    return path
  }
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jetfn-inspect-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('reads the options of a module that keeps a timer running (the thread is terminated, not left to finish)', async () => {
    const path = await bundle('timer', "setInterval(() => {}, 1000)\nexport default { name: 'ticks', subject: 'x.y', handler() {} }\n")
    await expect(inspectBundle(path, 'functions/ticks.ts')).resolves.toEqual({ options: { name: 'ticks', subject: 'x.y' }, hasHandler: true, hasSchema: false, ok: true })
  })

  it.each([
    ['awaits a timer far beyond it', 'hang', 'await new Promise((resolve) => setTimeout(resolve, 60_000))\nexport default {}\n'],
    ['blocks its thread', 'spin', 'for (;;) {}\n'],
  ])('refuses a module that %s at import, once its time is up', async (_what, name, source) => {
    const path = await bundle(name, source)
    await expect(inspectBundle(path, `functions/${name}.ts`, { timeoutMs: 300 })).rejects.toMatchObject({
      code: FnErrorCode.FunctionLoadFailed,
      message: `functions/${name}.ts: did not finish importing within 300 ms`,
    })
  })

  it('refuses a module whose top-level await can never settle, without waiting for the time limit', async () => {
    const path = await bundle('stuck', 'await new Promise(() => {})\nexport default {}\n')
    await expect(inspectBundle(path, 'functions/stuck.ts', { timeoutMs: 60_000 })).rejects.toMatchObject({
      code: FnErrorCode.FunctionLoadFailed,
      message: 'functions/stuck.ts: never finishes importing: its thread ran out of work mid-import (a top-level await that nothing can settle, or process.exit(0))',
    })
  })

  it('refuses a module that exits its thread at import', async () => {
    const path = await bundle('exits', 'process.exit(3)\n')
    await expect(inspectBundle(path, 'functions/exits.ts')).rejects.toMatchObject({
      code: FnErrorCode.FunctionLoadFailed,
      message: 'functions/exits.ts: crashed its thread while importing: it exited with code 3',
    })
  })
})
