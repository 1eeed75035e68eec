/**
 * Function files that cannot run are refused with their file and the reason, and nothing of
 * them is started; a valid one resolves to its options.
 */
import { describe, expect, it } from 'vitest'
import { join } from 'node:path'
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
