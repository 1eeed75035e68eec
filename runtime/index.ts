/**
 * jetfn's public surface: what handler files, `fn.config.ts` and scripts import. Everything else
 * under `runtime/` is internal.
 */
export { defineFunction, defineConfig } from './define.ts'
export type {
  ConfigDefinition,
  DefinedConfig,
  DefinedFunction,
  Duration,
  FnContext,
  FnEvent,
  FunctionDefinition,
  PublishOptions,
  RetryOptions,
  StartFrom,
} from './define.ts'
export { NonRetryableError, RetryAfterError } from './errors/handler-errors.ts'
export { FnError, FnErrorCode, isFnError } from './errors/fn-error.ts'
export type { ResolvedConfig } from './config/config-schema.ts'
export type { ResolvedFunctionOptions } from './function/function-options.ts'
