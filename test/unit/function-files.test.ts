import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isFunctionFile, listFunctionFiles } from '../../runtime/dev/function-files.ts'

describe('isFunctionFile', () => {
  it.each(['charge-card.ts', 'charge-card.mts', 'charge-card.js', 'charge-card.mjs', 'send.email.ts', 'a.ts'])(
    '%s is a function file',
    (name) => {
      expect(isFunctionFile(name)).toBe(true)
    },
  )

  it.each([
    // declarations, tests and specs
    'types.d.ts',
    'types.d.mts',
    'types.d.cts',
    'charge-card.test.ts',
    'charge-card.test.mts',
    'charge-card.test.js',
    'charge-card.spec.ts',
    'charge-card.spec.cjs',
    // helpers and dotfiles
    '_shared.ts',
    '_helpers.js',
    '.eslintrc.js',
    '.charge-card.ts.swp',
    // not source
    'README.md',
    'data.json',
    'charge-card.ts.bak',
    'charge-card.ts~',
    'charge-card',
    'charge-card.tsx',
    'charge-card.cts',
    'charge-card.cjs',
    'ts',
  ])('%s is not a function file', (name) => {
    expect(isFunctionFile(name)).toBe(false)
  })
})

describe('listFunctionFiles', () => {
  let dir: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jetfn-function-files-'))
    for (const name of ['charge-card.ts', '_shared.ts', 'send-email.ts', 'charge-card.test.ts', 'audit.mjs', 'types.d.ts', 'notes.md']) {
      await writeFile(join(dir, name), '')
    }
    // Functions live directly in the directory; nested ones are not picked up.
    await mkdir(join(dir, 'nested'))
    await writeFile(join(dir, 'nested', 'inner.ts'), '')
  })

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('lists the function files, sorted, as paths in the directory', async () => {
    expect(await listFunctionFiles(dir)).toEqual([join(dir, 'audit.mjs'), join(dir, 'charge-card.ts'), join(dir, 'send-email.ts')])
  })

  it('is empty for an empty directory', async () => {
    const empty = join(dir, 'nested-empty')
    await mkdir(empty)
    expect(await listFunctionFiles(empty)).toEqual([])
  })

  it('is empty for a directory that does not exist', async () => {
    expect(await listFunctionFiles(join(dir, 'no-such-dir'))).toEqual([])
  })

  it('rejects when the path is a file, not a directory', async () => {
    await expect(listFunctionFiles(join(dir, 'charge-card.ts'))).rejects.toMatchObject({ code: 'ENOTDIR' })
  })
})
