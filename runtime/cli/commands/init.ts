import { relative } from 'node:path'
import { initProject, type InitResult } from '../../init/init-project.ts'
import { HELLO } from '../../init/project-template.ts'
import type { ParsedArgs } from '../parse-args.ts'

/** `fn init [dir] [--force]`: scaffolds a project and prints what it did and the next three commands. */
export async function runInit(args: ParsedArgs): Promise<number> {
  const result = await initProject({ dir: args.positionals[0] ?? '.', force: args.options.force ?? false })
  console.log(formatInitReport(result, process.cwd()))
  return 0
}

/**
 * What `fn init` prints: one line per file (created, updated, skipped with the reason), then the
 * next three commands, run from `cwd`.
 */
export function formatInitReport(result: InitResult, cwd: string): string {
  const where = relative(cwd, result.dir)
  const lines = [`jetfn project in ${where === '' ? 'the current directory' : where}:`]
  for (const path of result.created) lines.push(`  created  ${path}`)
  for (const { path, what } of result.updated) lines.push(`  updated  ${path}: ${what}`)
  for (const { path, why } of result.skipped) lines.push(`  skipped  ${path}: ${why}`)
  const cd = where === '' ? '' : `cd ${/^[\w./-]+$/.test(where) ? where : JSON.stringify(where)} && `
  lines.push(
    '',
    'Next:',
    `  ${cd}npm install`,
    '  npm run dev        # nats-server, functions/ deployed, redeployed on save',
    `  npx fn invoke ${HELLO.fn} --data '${HELLO.data}'   # in another terminal`,
  )
  return lines.join('\n')
}
