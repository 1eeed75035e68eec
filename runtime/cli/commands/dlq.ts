import type { ParsedArgs } from '../parse-args.ts'

/** `fn dlq ls|show|replay|purge <fn> ...`: returns the exit code. */
export async function runDlq(_args: ParsedArgs): Promise<number> {
  throw new Error("'fn dlq' is being built")
}
