/**
 * Parses the command line into a command and its flags, with `node:util` `parseArgs`. Exported so
 * tests call it without spawning a process.
 */
import { parseArgs } from 'node:util'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'

export const COMMANDS = ['dev', 'start', 'deploy', 'rm', 'rollback', 'help'] as const
export type CommandName = (typeof COMMANDS)[number]

export interface ParsedArgs {
  command: CommandName
  /** `--config <file>`; default `./fn.config.ts`. */
  config: string | undefined
  verbose: boolean
  positionals: string[]
  /** Command-specific flags: `--to <version>` (rollback). */
  options: { to?: string }
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
        to: { type: 'string' },
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
  const options: ParsedArgs['options'] = {}
  if (parsed.values.to !== undefined) {
    if (command !== 'rollback') throw new FnError(FnErrorCode.UsageInvalid, `'--to' is only for 'fn rollback'`, { hint: 'run `fn help`' })
    options.to = parsed.values.to
  }
  const arity: Partial<Record<string, [number, number, string]>> = {
    rm: [1, 1, 'fn rm <function>'],
    rollback: [1, 1, 'fn rollback <function> [--to <version>]'],
    start: [0, 0, 'fn start'],
    dev: [0, 0, 'fn dev'],
  }
  const rule = arity[command]
  if (rule && (rest.length < rule[0] || rest.length > rule[1])) {
    throw new FnError(FnErrorCode.UsageInvalid, rest.length < rule[0] ? `missing argument: usage: ${rule[2]}` : `unexpected argument '${rest[rule[1]]}': usage: ${rule[2]}`)
  }
  return { command: command as CommandName, config: parsed.values.config, verbose: parsed.values.verbose ?? false, positionals: rest, options }
}

export const USAGE = `usage: fn <command> [--config <file>] [--verbose]

commands:
  dev                           embedded nats-server (or NATS_URL), deploy ./functions, run a replica, redeploy on save
  start                         a production replica: runs every deployed function, follows deploys, /healthz /readyz
  deploy [names...]             bundle and deploy functions (all of ./functions, or the ones named)
  rm <function>                 remove a function: every replica stops it, its consumer is deleted
  rollback <function> [--to <version>]
                                re-deploy the previous version (or the one named, a prefix of its hash)
  help                          show this text

Every command reads ./fn.config.ts (or --config <file>) and honours NATS_URL.`
