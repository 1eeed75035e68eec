import type { ParsedArgs } from '../parse-args.ts'

/** `fn ls [--json]`: returns the exit code. */
export async function runLs(_args: ParsedArgs): Promise<number> {
  throw new Error("'fn ls' is being built")
}
