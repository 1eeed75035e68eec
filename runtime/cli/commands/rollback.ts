import { rollbackFunction } from '../../deploy/manage-functions.ts'
import { withRegistry } from './registry-command.ts'

/** `fn rollback <function> [--to <version>]`. */
export async function runRollback(opts: { configFile: string | undefined; name: string; to: string | undefined }): Promise<void> {
  await withRegistry(opts.configFile, { role: 'deployer' }, async ({ registry, jsm }) => {
    const { from, to } = await rollbackFunction(registry, opts.name, opts.to, { jsm })
    console.log(`${to.name}  rolled back  ${from?.slice(0, 12) ?? '(removed)'} -> ${to.version.slice(0, 12)}  (deployed ${to.deployedAt})`)
  })
}
