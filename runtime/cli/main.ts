/**
 * The CLI: parses the command line, owns SIGINT/SIGTERM (turned into an AbortSignal for the
 * library), and prints failures as one line `CODE: message` plus a hint. Exit code 0 or 1.
 */
import { isFnError } from '../errors/fn-error.ts'
import { parseCliArgs, usage } from './parse-args.ts'
import { runDeploy } from './commands/deploy.ts'
import { runDlq } from './commands/dlq.ts'
import { runInvoke } from './commands/invoke.ts'
import { runLogs } from './commands/logs.ts'
import { runLs } from './commands/ls.ts'
import { runDev } from './commands/dev.ts'
import { runInit } from './commands/init.ts'
import { runPause, runResume } from './commands/pause.ts'
import { runReplay } from './commands/replay.ts'
import { runK8s } from './commands/k8s.ts'
import { runRm } from './commands/rm.ts'
import { runRollback } from './commands/rollback.ts'
import { runStart } from './commands/start.ts'
import { runAuth } from './commands/auth.ts'
import { runSchedules } from './commands/schedules.ts'

export async function main(argv: readonly string[]): Promise<number> {
  let verbose = argv.includes('--verbose') || argv.includes('-v') || Boolean(process.env.DEBUG)
  try {
    const args = parseCliArgs(argv)
    verbose ||= args.verbose
    switch (args.command) {
      case 'help':
        console.log(usage(args.help))
        return 0
      case 'init':
        return await runInit(args)
      case 'ls':
        return await runLs(args)
      case 'schedules':
        return await runSchedules(args)
      case 'invoke':
        return await runInvoke(args)
      case 'logs':
        return await runLogs(args, shutdownSignal())
      case 'dlq':
        return await runDlq(args)
      case 'k8s':
        return await runK8s(args)
      case 'dev':
        await runDev({ configFile: args.config, signal: shutdownSignal() })
        return 0
      case 'start':
        await runStart({ configFile: args.config, signal: shutdownSignal(), bindOnly: args.options.bindOnly === true })
        return 0
      case 'deploy':
        await runDeploy({ configFile: args.config, names: args.positionals })
        return 0
      case 'rm':
        await runRm({ configFile: args.config, name: args.positionals[0]! })
        return 0
      case 'pause':
        return await runPause(args)
      case 'resume':
        return await runResume(args)
      case 'replay':
        return await runReplay(args)
      case 'auth':
        return await runAuth(args)
      case 'rollback':
        await runRollback({ configFile: args.config, name: args.positionals[0]!, to: args.options.to })
        return 0
    }
  } catch (err) {
    printError(err, verbose)
    return 1
  }
}

/**
 * Aborts on the first SIGINT or SIGTERM; a second one forces exit. Nothing is lost either way:
 * what is not acked is redelivered by the server.
 */
function shutdownSignal(): AbortSignal {
  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      console.error(`${signal} again: exiting now; unsettled messages are redelivered by the server`)
      process.exit(130)
    }
    controller.abort(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return controller.signal
}

function printError(err: unknown, verbose: boolean): void {
  if (isFnError(err)) {
    console.error(`${err.code}: ${err.message}`)
    if (err.hint) console.error(`hint: ${err.hint}`)
  } else {
    console.error(`FN_INTERNAL: ${(err as Error)?.message ?? String(err)}`)
  }
  if (verbose && err instanceof Error && err.stack) console.error(err.stack)
}
