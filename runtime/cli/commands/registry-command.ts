import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { ROLE_INBOX_PREFIX, type Role } from '../../auth/roles.ts'
import type { ResolvedConfig } from '../../config/config-schema.ts'
import { loadConfig } from '../../config/load-config.ts'
import { Registry } from '../../deploy/registry.ts'
import { connectNats } from '../../nats/connect.ts'
import { permissionDenied, watchPermissions } from '../../nats/permission-denied.ts'

/** What a command that reads or changes the registry gets. */
export interface RegistryContext {
  config: ResolvedConfig
  nc: NatsConnection
  jsm: JetStreamManager
  registry: Registry
}

/** Options of {@link withRegistry}. */
export interface RegistryCommandOptions {
  /**
   * The role the command runs as: its connection takes that role's inbox prefix, and a refused
   * permission is reported as `FN_PERMISSION_DENIED` naming the role.
   */
  role: Exclude<Role, 'replica'>
  /** Create the registry buckets if missing (only `fn deploy` does). Default false: a missing registry reads as empty. */
  provision?: boolean
}

/**
 * Loads the config, connects, opens the registry, runs `fn`, and always closes the connection.
 * A failure caused by a permission the server refused becomes `FN_PERMISSION_DENIED` naming the
 * refused subject, rather than the timeout it may have ended in.
 */
export async function withRegistry<T>(configFile: string | undefined, opts: RegistryCommandOptions, fn: (ctx: RegistryContext) => Promise<T>): Promise<T> {
  const config = await loadConfig(configFile === undefined ? {} : { file: configFile })
  const nc = await connectNats(config.nats, { name: 'jetfn cli', inboxPrefix: ROLE_INBOX_PREFIX[opts.role] })
  const permissions = watchPermissions(nc)
  try {
    const jsm = await jetstreamManager(nc)
    const registry = await Registry.open(nc, { replicas: config.jetfn.replicas, provision: opts.provision ?? false })
    return await fn({ config, nc, jsm, registry })
  } catch (err) {
    throw permissionDenied(err, permissions.violations, opts.role) ?? err
  } finally {
    permissions.stop()
    await nc.drain()
  }
}
