import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { formatInitReport } from '../../runtime/cli/commands/init.ts'
import { parseCliArgs } from '../../runtime/cli/parse-args.ts'
import { FnErrorCode, isFnError } from '../../runtime/errors/fn-error.ts'
import { initProject } from '../../runtime/init/init-project.ts'
import { packageName } from '../../runtime/init/project-template.ts'

const own = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string; dependencies: Record<string, string> }
const SCAFFOLD = ['package.json', 'tsconfig.json', 'fn.config.ts', 'functions/hello.ts', '.gitignore']

let root: string
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'jetfn-init-'))
})
afterEach(async () => {
  await rm(root, { recursive: true, force: true })
})

const read = (path: string): Promise<string> => readFile(join(root, path), 'utf8')
const readJson = async (path: string): Promise<Record<string, any>> => JSON.parse(await read(path)) as Record<string, any>

describe('fn init', () => {
  it('parses `init [dir] [--force]`', () => {
    expect(parseCliArgs(['init'])).toMatchObject({ command: 'init', positionals: [], options: {} })
    expect(parseCliArgs(['init', 'my-app', '--force'])).toMatchObject({ command: 'init', positionals: ['my-app'], options: { force: true } })
    expect(() => parseCliArgs(['dev', '--force'])).toThrow("'--force' is only for 'fn init'")
    expect(() => parseCliArgs(['init', 'a', 'b'])).toThrow("unexpected argument 'b'")
  })

  it('scaffolds a new directory: ESM package with dev/deploy/start, jetfn + zod, a hello function with a schema', async () => {
    const result = await initProject({ dir: join(root, 'My App') })
    expect(result.created.sort()).toEqual([...SCAFFOLD].sort())
    expect(result.skipped).toEqual([])
    const pkg = await readJson('My App/package.json')
    expect(pkg).toMatchObject({
      name: 'my-app',
      type: 'module',
      private: true,
      scripts: { dev: 'fn dev', deploy: 'fn deploy', start: 'fn start' },
      dependencies: { jetfn: `^${own.version}`, zod: own.dependencies.zod },
      devDependencies: { typescript: expect.any(String) },
    })
    const hello = await read('My App/functions/hello.ts')
    expect(hello).toContain("import { defineFunction } from 'jetfn'")
    expect(hello).toContain('schema: z.object(')
    expect(await read('My App/fn.config.ts')).toContain('defineConfig(')
    expect((await read('My App/.gitignore')).split('\n')).toContain('.fn/')
    expect(await readJson('My App/tsconfig.json')).toMatchObject({ compilerOptions: { module: 'NodeNext', strict: true, noEmit: true } })
  })

  it('prints what it did and the next three commands', async () => {
    const report = formatInitReport(await initProject({ dir: join(root, 'my-app') }), root)
    expect(report).toContain('jetfn project in my-app:')
    expect(report).toContain('  created  functions/hello.ts')
    const next = report.slice(report.indexOf('Next:')).split('\n').slice(1)
    expect(next.map((l) => l.trim().split(/\s+#/)[0])).toEqual(['cd my-app && npm install', 'npm run dev', `npx fn invoke hello --data '{"name":"Ada"}'`])
  })

  it('into an existing project: adds what is missing, keeps every existing file and field, says what it skipped', async () => {
    await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'mine', scripts: { dev: 'my-dev' }, dependencies: { typescript: '^5.0.0', jetfn: 'file:jetfn.tgz' } }))
    await writeFile(join(root, 'fn.config.ts'), '// mine\n')
    await writeFile(join(root, '.gitignore'), 'dist')
    const result = await initProject({ dir: root })

    expect(result.created.sort()).toEqual(['functions/hello.ts', 'tsconfig.json'])
    expect(await read('fn.config.ts')).toBe('// mine\n')
    expect(await read('.gitignore')).toBe('dist\nnode_modules/\n.fn/\n')
    const pkg = await readJson('package.json')
    expect(pkg).toMatchObject({ name: 'mine', type: 'module', scripts: { dev: 'my-dev', deploy: 'fn deploy', start: 'fn start' } })
    expect(pkg.dependencies).toEqual({ typescript: '^5.0.0', jetfn: 'file:jetfn.tgz', zod: own.dependencies.zod })
    expect(pkg.devDependencies).not.toHaveProperty('typescript')
    expect(result.updated).toContainEqual({ path: '.gitignore', what: 'added node_modules/, .fn/' })
    expect(result.skipped).toContainEqual({ path: 'fn.config.ts', why: 'exists; --force overwrites it' })
    expect(result.skipped).toContainEqual({ path: 'package.json', why: 'kept scripts.dev (--force sets them)' })

    // Run again: nothing left to add, nothing touched.
    const again = await initProject({ dir: root })
    expect(again.created).toEqual([])
    expect(again.updated).toEqual([])
    expect(again.skipped.map((s) => s.path).sort()).toEqual([...SCAFFOLD].sort())
  })

  it('--force overwrites the scaffold files and sets its scripts, keeping the rest of package.json', async () => {
    await writeFile(join(root, 'package.json'), JSON.stringify({ name: 'mine', scripts: { dev: 'my-dev', lint: 'x' } }))
    await mkdir(join(root, 'functions'))
    await writeFile(join(root, 'functions/hello.ts'), '// mine\n')
    const result = await initProject({ dir: root, force: true })
    expect(await read('functions/hello.ts')).toContain('defineFunction')
    expect(result.updated).toContainEqual({ path: 'functions/hello.ts', what: 'overwritten (--force)' })
    expect((await readJson('package.json')).scripts).toEqual({ dev: 'fn dev', lint: 'x', deploy: 'fn deploy', start: 'fn start', typecheck: 'tsc --noEmit' })
  })

  it('fails with FN_INIT_FAILED on a package.json that is not JSON, or a path that is a file', async () => {
    await writeFile(join(root, 'package.json'), '{ nope')
    await expect(initProject({ dir: root })).rejects.toSatisfy((e) => isFnError(e, FnErrorCode.InitFailed) && e.message.includes('package.json is not valid JSON'))
    await expect(initProject({ dir: join(root, 'package.json') })).rejects.toSatisfy((e) => isFnError(e, FnErrorCode.InitFailed))
  })

  it.each([
    ['my-app', 'my-app'],
    ['My App', 'my-app'],
    ['.hidden', 'hidden'],
    ['@@@', 'jetfn-app'],
  ])('names the package after the directory: %j → %j', (dir, name) => {
    expect(packageName(dir)).toBe(name)
  })
})
