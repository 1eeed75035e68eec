import { FnError, FnErrorCode } from '../../errors/fn-error.ts'
import { eventsSubject, logsSubject, type InvocationEvent } from '../../observe/invocation-event.ts'
import { watchEvents } from '../../observe/watch-events.ts'
import type { ParsedArgs } from '../parse-args.ts'
import { describe } from './invoke.ts'
import { withRegistry } from './registry-command.ts'
import { aborted } from './dev.ts'

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }

/**
 * `fn logs <fn> [--follow] [--json]`: a live tail of a function's settled invocations and its
 * handlers' `ctx.log` lines, from every replica, until Ctrl-C. Nothing is stored, so there is no
 * history to show: the tail always follows (`--follow` is accepted for habit's sake).
 */
export async function runLogs(args: ParsedArgs, signal: AbortSignal): Promise<number> {
  const name = args.positionals[0]!
  return withRegistry(args.config, { role: 'viewer' }, async ({ nc, registry }) => {
    if (!(await registry.get(name))) {
      throw new FnError(FnErrorCode.FunctionNotFound, `no function named '${name}' is deployed`, { hint: 'run `fn ls` to see what is deployed' })
    }
    const json = args.options.json === true
    const events = nc.subscribe(eventsSubject(name), {
      // On the client's socket reader: a line nobody can read is skipped, never thrown there.
      callback: (_err, m) => {
        let e: InvocationEvent
        try {
          e = m.json<InvocationEvent>()
        } catch {
          console.error(`skipped an event on ${m.subject} that is not JSON`)
          return
        }
        console.log(json ? JSON.stringify({ type: 'event', ...e }) : `${clock(e.at)} ${describe(e)}`)
      },
    })
    const logs = nc.subscribe(logsSubject(name), {
      callback: (_err, m) => {
        const line = m.string()
        console.log(json ? JSON.stringify({ type: 'log', ...(parse(line) ?? { line }) }) : formatLog(line))
      },
    })
    const watch = await watchEvents(nc, name)
    // On stderr, so that --json output stays pure JSON lines.
    console.error(`following ${name} on ${watch.replicas} replica${watch.replicas === 1 ? '' : 's'} (Ctrl-C to stop)`)
    await aborted(signal)
    watch.stop()
    events.unsubscribe()
    logs.unsubscribe()
    return 0
  })
}

function parse(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    // Not pino JSON (a pretty-printing replica): shown as it is.
    return undefined
  }
}

/** A pino JSON line as `time LEVEL msg {fields}`. */
export function formatLog(line: string): string {
  const r = parse(line)
  if (!r) return line
  const { time, level, msg, pid: _pid, hostname: _host, ...fields } = r
  const rest = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ''
  return `${clock(typeof time === 'number' ? time : Date.now())} ${LEVELS[level as number] ?? String(level)} ${String(msg ?? '')}${rest}`
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23)
}
