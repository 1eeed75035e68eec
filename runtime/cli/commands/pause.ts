import { pauseFunction, resumeFunction, type PauseState } from '../../deploy/pause-function.ts'
import type { ParsedArgs } from '../parse-args.ts'
import { withRegistry } from './registry-command.ts'

/** `fn pause <function> [--until <time|duration>] [--json]`. */
export async function runPause(args: ParsedArgs): Promise<number> {
  const state = await withRegistry(args.config, { role: 'deployer' }, (ctx) => pauseFunction(ctx, args.positionals[0]!, args.options.until))
  print(args, state, `paused ${describePause(state)}; messages wait in stream ${state.stream}, running ones finish`)
  return 0
}

/** `fn resume <function> [--json]`. */
export async function runResume(args: ParsedArgs): Promise<number> {
  const state = await withRegistry(args.config, { role: 'deployer' }, (ctx) => resumeFunction(ctx, args.positionals[0]!))
  print(args, state, 'resumed')
  return 0
}

/** How `fn ls` and `fn pause` name a pause: `until 2026-12-01T09:00:00.000Z`, or `until fn resume`. */
export function describePause(state: PauseState): string {
  if (state.until === null) return 'not paused'
  return state.indefinitely ? 'until fn resume' : `until ${state.until}`
}

function print(args: ParsedArgs, state: PauseState, text: string): void {
  if (args.options.json) console.log(JSON.stringify(state, null, 2))
  else console.log(`${state.name}  ${text}`)
}
