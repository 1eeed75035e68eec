/**
 * What function bundles get when they import `jetfn`: defineFunction, defineConfig and the
 * handler error classes, with no dependencies, so that a bundle is small and self-contained and
 * runs the same on any replica. The runtime recognises these errors by name, not by class.
 */
export { defineFunction, defineConfig } from './define.ts'
export { NonRetryableError, RetryAfterError } from './errors/handler-errors.ts'
