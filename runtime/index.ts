/**
 * jetfn's public surface (`import … from 'jetfn'`): what handler files and `fn.config.ts` import,
 * and what an entry point of your own needs to run a replica as `fn start` does (`loadConfig`,
 * `createLogger`, `runReplica`). Everything else under `runtime/` is internal; what the
 * repository's scripts and tests need of it is in `jetfn/internal`.
 */
export { defineFunction, defineConfig } from './define.ts'
export type {
  ConfigDefinition,
  ConcurrencyOptions,
  Debounce,
  Decode,
  DefinedConfig,
  DefinedFunction,
  Duration,
  FnContext,
  FnEvent,
  FnSchema,
  FunctionDefinition,
  FunctionTuning,
  KeySpec,
  NatsConfig,
  PublishOptions,
  RateLimit,
  RetryOptions,
  Schedule,
  StartFrom,
  StreamConfig,
} from './define.ts'
export { NonRetryableError, RetryAfterError } from './errors/handler-errors.ts'
export { FnError, FnErrorCode, isFnError } from './errors/fn-error.ts'
export type { FnErrorOptions } from './errors/fn-error.ts'
export type { ResolvedConfig } from './config/config-schema.ts'
export type { ResolvedFunctionOptions } from './function/function-options.ts'
export { loadConfig, DEFAULT_CONFIG_FILE } from './config/load-config.ts'
export type { LoadConfigOptions } from './config/load-config.ts'
export { createLogger } from './log/logger.ts'
export type { LoggerOptions } from './log/logger.ts'
export { runReplica } from './replica/run-replica.ts'
export type { RunReplicaOptions, RunningReplica } from './replica/run-replica.ts'
