import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig, loadConfigDetails } from '../../runtime/config/load-config.ts'
import { FnError } from '../../runtime/errors/fn-error.ts'

let cwd: string

beforeEach(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'jetfn-load-config-'))
})

afterEach(async () => {
  await rm(cwd, { recursive: true, force: true })
})

const write = (name: string, text: string) => writeFile(join(cwd, name), text)

async function failure(promise: Promise<unknown>): Promise<FnError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof FnError) return err
    throw err
  }
  throw new Error('expected loadConfig to reject')
}

describe('loadConfig', () => {
  it("compiles a TypeScript config that imports defineConfig from 'jetfn'", async () => {
    await write(
      'fn.config.ts',
      [
        "import { defineConfig } from 'jetfn'",
        "import { cpus } from 'node:os'",
        "import { streams } from './streams.ts'",
        'const threads: number = Math.min(2, cpus().length)',
        "export default defineConfig({ streams, pool: { threads }, defaults: { timeout: '5s' } })",
      ].join('\n'),
    )
    await write('streams.ts', "export const streams = [{ name: 'ORDERS', subjects: ['orders.>'], maxAge: '7d' }]\n")
    const config = await loadConfig({ cwd, env: {} })
    expect(config.defaults.timeoutMs).toBe(5_000)
    expect(config.pool.threads).toBeGreaterThanOrEqual(1)
    expect(config.streams).toEqual([
      { name: 'ORDERS', subjects: ['orders.>'], storage: 'file', replicas: 1, maxAgeMs: 604_800_000, duplicateWindowMs: 120_000, written: ['subjects', 'maxAge'] },
    ])
    const cached = await readdir(join(cwd, '.fn', 'cache'))
    expect(cached).toEqual([expect.stringMatching(/^config-[0-9a-f]{64}\.mjs$/)])
  })

  it('tells the project files a config is built from, and keeps what it was written as', async () => {
    await write('fn.config.ts', "import { defineConfig } from 'jetfn'\nimport { streams } from './streams.ts'\nimport { z } from 'zod'\nexport default defineConfig({ streams, http: { port: 9000 } })\n")
    await write('streams.ts', "export const streams = [{ name: 'ORDERS', subjects: ['orders.>'] }]\n")
    const loaded = await loadConfigDetails({ cwd, env: {} })
    // Not jetfn's define module, not a package: only what an image must copy.
    expect(loaded.sources).toEqual(['fn.config.ts', 'streams.ts'])
    expect(loaded.file).toBe('fn.config.ts')
    expect(loaded.input).toMatchObject({ http: { port: 9000 } })
    expect((loaded.input as { pool?: unknown }).pool).toBeUndefined()
    expect(loaded.config.pool.threads).toBeGreaterThanOrEqual(1)
    expect(loaded.code).toContain("'orders.>'".replaceAll("'", '"'))
    await rm(join(cwd, 'fn.config.ts'))
    expect(await loadConfigDetails({ cwd, env: {} })).toMatchObject({ file: undefined, sources: [], input: {} })
  })

  it('sees an edited config in the same process', async () => {
    await write('fn.config.ts', 'export default { http: { port: 1 } }\n')
    expect((await loadConfig({ cwd, env: {} })).http.port).toBe(1)
    await write('fn.config.ts', 'export default { http: { port: 2 } }\n')
    expect((await loadConfig({ cwd, env: {} })).http.port).toBe(2)
  })

  it('uses every default when the default file is absent', async () => {
    const config = await loadConfig({ cwd, env: { NATS_URL: 'nats://env:4222' } })
    expect(config.nats.servers).toEqual(['nats://env:4222'])
    expect(config.defaults.concurrency).toBe(8)
  })

  it('refuses a missing file that was asked for', async () => {
    const err = await failure(loadConfig({ cwd, file: 'conf/prod.config.ts' }))
    expect(err.code).toBe('FN_CONFIG_INVALID')
    expect(err.message).toBe('conf/prod.config.ts: file not found')
    expect(err.hint).toBe('check the path given to --config')
  })

  it('refuses a missing default file when required', async () => {
    const err = await failure(loadConfig({ cwd, required: true }))
    expect(err.message).toBe('fn.config.ts: file not found')
    expect(err.hint).toBe('create fn.config.ts or pass --config <file>')
  })

  it("reports a syntax error with esbuild's first error and its position", async () => {
    await write('fn.config.ts', "export default {\n  nats: { servers: 'x' ,\n}\n")
    const err = await failure(loadConfig({ cwd }))
    expect(err.code).toBe('FN_CONFIG_INVALID')
    expect(err.message).toBe('fn.config.ts: build failed: fn.config.ts:4:1: Expected "}" but found end of file')
    expect(err.cause).toBeDefined()
  })

  it('reports an invalid field with the file, the field and the value', async () => {
    await write(
      'fn.config.ts',
      "import { defineConfig } from 'jetfn'\nexport default defineConfig({ defaults: { retry: { maxDeliver: 0 } } })\n",
    )
    const err = await failure(loadConfig({ cwd, env: {} }))
    expect(err.code).toBe('FN_CONFIG_INVALID')
    expect(err.message).toBe("fn.config.ts: 'defaults.retry.maxDeliver' must be at least 1 (got 0)")
  })

  it('names an explicit file in its errors', async () => {
    await write('other.ts', "export default { http: { port: 'x' } }\n")
    const err = await failure(loadConfig({ cwd, file: 'other.ts', env: {} }))
    expect(err.message).toBe("other.ts: 'http.port' must be a number (got 'x')")
  })

  it('reports a config that throws while it is imported', async () => {
    await write('fn.config.ts', "throw new Error('no secrets here')\nexport default {}\n")
    const err = await failure(loadConfig({ cwd }))
    expect(err.code).toBe('FN_CONFIG_INVALID')
    expect(err.message).toBe('fn.config.ts: threw while loading: no secrets here')
    expect((err.cause as Error).message).toBe('no secrets here')
  })

  it('reports a config without a default export', async () => {
    await write('fn.config.ts', 'export const config = {}\n')
    const err = await failure(loadConfig({ cwd }))
    expect(err.message).toBe('fn.config.ts: has no default export')
    expect(err.hint).toBe('end it with `export default defineConfig({ ... })`')
  })

  it('reports an import that cannot be resolved', async () => {
    await write('fn.config.ts', "import { x } from './missing.ts'\nexport default { x }\n")
    const err = await failure(loadConfig({ cwd }))
    expect(err.message).toBe('fn.config.ts: build failed: fn.config.ts:1:19: Could not resolve "./missing.ts"')
  })
})
