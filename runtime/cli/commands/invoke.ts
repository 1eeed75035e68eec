import type { ParsedArgs } from '../parse-args.ts'

/** `fn invoke <fn> --data <json> | --file <path>`: returns the exit code. */
export async function runInvoke(_args: ParsedArgs): Promise<number> {
  throw new Error("'fn invoke' is being built")
}
