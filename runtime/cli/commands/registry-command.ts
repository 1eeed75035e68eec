import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { ResolvedConfig } from '../../config/config-schema.ts'
import { loadConfig } from '../../config/load-config.ts'
import { Registry } from '../../deploy/registry.ts'
import { connectNats } from '../../nats/connect.ts'

/** What a command that reads or changes the registry gets. */
export interface RegistryContext {
  config: ResolvedConfig
  nc: NatsConnection
  jsm: JetStreamManager
  registry: Registry
}

/** Loads the config, connects, opens the registry, runs `fn`, and always closes the connection. */
export async function withRegistry<T>(configFile: string | undefined, fn: (ctx: RegistryContext) => Promise<T>): Promise<T> {
  const config = await loadConfig(configFile === undefined ? {} : { file: configFile })
  const nc = await connectNats(config.nats, { name: 'jetfn cli' })
  try {
    const jsm = await jetstreamManager(nc)
    const registry = await Registry.open(nc, { replicas: config.jetfn.replicas })
    return await fn({ config, nc, jsm, registry })
  } finally {
    await nc.drain()
  }
}
