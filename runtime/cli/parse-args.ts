/**
 * Parses the command line into a command and its flags, with `node:util` `parseArgs`. Exported so
 * tests call it without spawning a process.
 */
import { parseArgs } from 'node:util'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'

export const COMMANDS = ['dev', 'help'] as const
export type CommandName = (typeof COMMANDS)[number]

export interface ParsedArgs {
  command: CommandName
  /** `--config <file>`; default `./fn.config.ts`. */
  config: string | undefined
  verbose: boolean
  positionals: string[]
}

export function parseCliArgs(argv: readonly string[]): ParsedArgs {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (err) {
    throw new FnError(FnErrorCode.UsageInvalid, (err as Error).message, { hint: 'run `fn help`' })
  }
  const [first, ...rest] = parsed.positionals
  const command = parsed.values.help ? 'help' : (first ?? 'help')
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new FnError(FnErrorCode.UsageInvalid, `unknown command '${command}'`, { hint: `commands: ${COMMANDS.join(', ')}` })
  }
  return { command: command as CommandName, config: parsed.values.config, verbose: parsed.values.verbose ?? false, positionals: rest }
}

export const USAGE = `usage: fn <command> [--config <file>] [--verbose]

commands:
  dev     run the functions in ./functions on an embedded nats-server (or NATS_URL), redeploying on save
  help    show this text

Every command reads ./fn.config.ts (or --config <file>) and honours NATS_URL.`
