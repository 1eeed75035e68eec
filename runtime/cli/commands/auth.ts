import { join, resolve } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { authScope } from '../../auth/auth-scope.ts'
import { formatJson, formatNsc, formatServerConfig } from '../../auth/format-permissions.ts'
import { rolePermissions } from '../../auth/role-permissions.ts'
import { ROLE_INBOX_PREFIX } from '../../auth/roles.ts'
import { loadConfig } from '../../config/load-config.ts'
import { listFunctionFiles } from '../../dev/function-files.ts'
import { FnError, FnErrorCode } from '../../errors/fn-error.ts'
import { connectNats } from '../../nats/connect.ts'
import { permissionDenied, watchPermissions, type PermissionWatch } from '../../nats/permission-denied.ts'
import type { ParsedArgs } from '../parse-args.ts'

/**
 * `fn auth [--json | --nsc]`: the NATS permissions of the `replica`, `deployer` and `viewer`
 * roles for this project: its functions (built as `fn deploy` builds them), their streams, the
 * configured streams and jetfn's own. It connects only when a function's stream has to be found
 * on the server (as the deployer: it reads stream names and infos). Returns the exit code.
 */
export async function runAuth(args: ParsedArgs): Promise<number> {
  if (args.options.json && args.options.nsc) throw new FnError(FnErrorCode.UsageInvalid, 'give at most one of --json and --nsc', { hint: 'usage: fn auth [--json | --nsc]' })
  const config = await loadConfig(args.config === undefined ? {} : { file: args.config })
  const cwd = resolve(process.cwd())
  const files = await listFunctionFiles(resolve(cwd, config.functionsDir))
  let nc: NatsConnection | undefined
  let permissions: PermissionWatch | undefined
  try {
    const scope = await authScope({
      config,
      files,
      home: join(cwd, '.fn'),
      cwd,
      jsm: async () => {
        nc = await connectNats(config.nats, { name: 'jetfn cli', inboxPrefix: ROLE_INBOX_PREFIX.deployer })
        permissions = watchPermissions(nc)
        return jetstreamManager(nc)
      },
    })
    const set = rolePermissions(scope)
    const summary = { functions: scope.functions.map((f) => f.name), streams: [...scope.streams.map((st) => st.name), scope.dlqStream] }
    console.log(args.options.json ? formatJson(set) : args.options.nsc ? formatNsc(set, summary) : formatServerConfig(set, summary))
    return 0
  } catch (err) {
    throw permissionDenied(err, permissions?.violations, 'deployer') ?? err
  } finally {
    permissions?.stop()
    await nc?.drain()
  }
}
