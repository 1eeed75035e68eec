import type { ParsedArgs } from '../parse-args.ts'

/** `fn logs <fn> [--follow] [--json]`: returns the exit code once `signal` aborts. */
export async function runLogs(_args: ParsedArgs, _signal: AbortSignal): Promise<number> {
  throw new Error("'fn logs' is being built")
}
