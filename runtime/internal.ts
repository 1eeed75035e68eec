/**
 * `jetfn/internal`: the parts of the runtime that the repository's benchmark, profiling scripts
 * and tests drive directly. Not a stable API: names here may change in any release. Users import
 * `jetfn`.
 */
export * from './index.ts'
export { resolveConfig } from './config/config-schema.ts'
export { deployFunctions } from './deploy/deploy-functions.ts'
export type { DeployOptions, DeployResult } from './deploy/deploy-functions.ts'
export { removeFunction } from './deploy/manage-functions.ts'
export { Registry } from './deploy/registry.ts'
export { startDevSession } from './dev/dev-session.ts'
export type { DevSession, DevSessionOptions } from './dev/dev-session.ts'
export { consumerName } from './nats/ensure-consumer.ts'
export { findNatsServer } from './nats/nats-server-bin.ts'
export { NatsServerProcess } from './nats/nats-server-process.ts'
export type { NatsServerProcessOptions } from './nats/nats-server-process.ts'
export { Replica } from './replica/replica.ts'
export type { ReplicaOptions, ReplicaState } from './replica/replica.ts'
export { initProject } from './init/init-project.ts'
export type { InitOptions, InitResult } from './init/init-project.ts'
