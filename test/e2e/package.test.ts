/**
 * jetfn as a user gets it: the tarball `npm pack` makes (packed once for this file), checked with
 * arethetypeswrong and publint, then installed into a fresh directory outside the repository, where
 * `npx jetfn init` scaffolds a project that type-checks, `npx fn dev` runs it against a test
 * server, `npx fn invoke` gets its function's answer and Ctrl-C ends it with exit 0. Plain Node
 * imports the package. npm's cache is used; the registry must be reachable (as for npm install).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { spawnWatched } from '../helpers/dev-process.ts'
import { startServer } from '../helpers/nats-server.ts'
import { run, userEnv } from '../helpers/run-command.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const own = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
let work: string
let tarball: string

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'jetfn-package-'))
  // --ignore-scripts: the global setup has built dist/, and a prepack build now would rewrite it
  // under the feet of test files running beside this one.
  const pack = await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, env: userEnv(ROOT) })
  expect(pack, pack.stderr).toMatchObject({ code: 0 })
  tarball = join(work, pack.stdout.trim().split('\n').pop()!)
}, 120_000)

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true })
})

describe('the packed tarball', () => {
  it('resolves with types for every entry (arethetypeswrong) and lints clean (publint)', async () => {
    const attw = await run(join(ROOT, 'node_modules/.bin/attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii'], { cwd: work })
    expect(attw, attw.stdout).toMatchObject({ code: 0 })
    const publint = await run(join(ROOT, 'node_modules/.bin/publint'), [tarball, '--strict'], { cwd: work })
    expect(publint, publint.stdout + publint.stderr).toMatchObject({ code: 0 })
    expect(publint.stdout).toContain('All good!')
  }, 120_000)

  it('holds dist/, the bin and the fetch script, and no TypeScript source or build info', async () => {
    const list = await run('tar', ['tzf', tarball], { cwd: work })
    const files = list.stdout.split('\n').filter(Boolean)
    expect(files).toEqual(expect.arrayContaining(['package/bin/fn.js', 'package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/deploy/inspect-worker.mjs', 'package/scripts/fetch-nats-server.sh']))
    expect(files.filter((f) => (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.includes('tsbuildinfo'))).toEqual([])
  })
})

describe('a user project', () => {
  let server: NatsServerProcess
  let project: string

  beforeAll(async () => {
    server = await startServer()
    project = join(work, 'my-app')
    await run('mkdir', ['-p', project], { cwd: work })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('npm install <tarball> → npx jetfn init → tsc passes → fn dev runs hello → npx fn invoke ok → Ctrl-C exits 0', async () => {
    const env = { ...userEnv(ROOT), NATS_URL: server.url, NO_COLOR: '1' }
    const versions = [`typescript@${own.devDependencies.typescript}`, `@types/node@${own.devDependencies['@types/node']}`]
    const install = await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball, ...versions], { cwd: project, env })
    expect(install, install.stderr).toMatchObject({ code: 0 })

    const init = await run('npx', ['jetfn', 'init'], { cwd: project, env })
    expect(init, init.stderr).toMatchObject({ code: 0 })
    expect(init.stdout).toContain('created  functions/hello.ts')
    expect(init.stdout).toContain('npm run dev')

    const tsc = await run('npx', ['tsc', '--noEmit'], { cwd: project, env })
    expect(tsc, tsc.stdout).toMatchObject({ code: 0 })

    const plain = await run(process.execPath, ['--input-type=module', '-e', "const m = await import('jetfn'); console.log(typeof m.defineFunction, typeof m.defineConfig, typeof m.runReplica)"], { cwd: project, env })
    expect(plain, plain.stderr).toMatchObject({ code: 0, stdout: 'function function function\n' })

    // The bin npx resolves, run directly: npm 11 dies of the SIGINT itself (while fn drains), so
    // `npx fn dev`'s status would be npm's, not fn's. Its own process group, as in a terminal.
    await using dev = spawnWatched(join(project, 'node_modules/.bin/fn'), ['dev'], { cwd: project, env, label: 'fn dev', group: true })
    await dev.waitFor(/fn dev ready.*"functions":\["hello"\]/, 60_000)
    const invoke = await run('npx', ['fn', 'invoke', 'hello', '--data', '{"name":"Ada"}'], { cwd: project, env })
    expect(invoke, invoke.stderr).toMatchObject({ code: 0 })
    expect(invoke.stdout).toMatch(/^ok in [\d.]+ ms \(seq 1, delivery 1/m)
    await dev.waitFor(/greeted.*"greeting":"Hello, Ada!"/)

    dev.kill('SIGINT')
    expect(await dev.exited).toBe(0)
    expect(dev.output).toMatch(/replica state.*"to":"stopped"/)
  }, 240_000)
})
