import { removeFunction } from '../../deploy/manage-functions.ts'
import { withRegistry } from './registry-command.ts'

/** `fn rm <function>`. */
export async function runRm(opts: { configFile: string | undefined; name: string }): Promise<void> {
  await withRegistry(opts.configFile, { role: 'deployer' }, async ({ registry, jsm }) => {
    const removed = await removeFunction(registry, jsm, opts.name)
    console.log(`${removed.name}  removed  (was ${removed.version.slice(0, 12)}; its consumer fn_${removed.name} is deleted)`)
  })
}
