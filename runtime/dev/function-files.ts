import { readdir } from 'node:fs/promises'
import { join } from 'node:path'

const SOURCE = /\.(m?ts|m?js)$/
const SKIPPED = /(\.d\.[mc]?ts|\.test\.[mc]?[jt]s|\.spec\.[mc]?[jt]s)$/

/** True for a file in `functions/` that defines a function (not a test, a declaration or a `_helper`). */
export function isFunctionFile(name: string): boolean {
  return SOURCE.test(name) && !SKIPPED.test(name) && !name.startsWith('_') && !name.startsWith('.')
}

/** The function files of a directory, sorted; an empty list when it does not exist. */
export async function listFunctionFiles(dir: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  return names.filter(isFunctionFile).sort().map((n) => join(dir, n))
}
