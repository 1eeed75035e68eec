import { functionStatuses, type FunctionStatus } from '../../deploy/function-status.ts'
import { PAUSED_INDEFINITELY } from '../../deploy/pause-function.ts'
import type { ParsedArgs } from '../parse-args.ts'
import { withRegistry } from './registry-command.ts'

/** `fn ls [--json]`: every deployed function with its queue figures; returns the exit code. */
export async function runLs(args: ParsedArgs): Promise<number> {
  const statuses = await withRegistry(args.config, { role: 'viewer' }, ({ config, registry, jsm }) => functionStatuses({ registry, jsm, dlqStream: config.dlq.stream }))
  if (args.options.json) console.log(JSON.stringify(statuses, null, 2))
  else if (statuses.length === 0) console.log('no functions deployed (run `fn deploy`)')
  else {
    console.log(formatFunctionTable(statuses))
    for (const st of statuses) {
      if (st.replay && !st.replay.finished) console.log(`\nreplay ${st.replay.id} of ${st.name}: ${st.replay.left} of ${st.replay.count} messages left to run again`)
    }
    const problem = statuses.find((st) => st.dlqProblem !== null)?.dlqProblem
    if (problem) console.log(`\nwarning: ${problem}: failed messages wait unterminated and are tried again until it takes them`)
  }
  return 0
}

const HEADER = ['NAME', 'VERSION', 'SUBJECT', 'STREAM', 'PENDING', 'IN FLIGHT', 'REDELIVERED', 'DLQ', 'PAUSED', 'DEPLOYED AT', 'DEPLOYED BY'] as const
/** Columns right-aligned (the counts). */
const NUMERIC = new Set([4, 5, 6, 7])

/** The `fn ls` table: one row per function, columns separated by two spaces; `-` for a figure not known. */
export function formatFunctionTable(statuses: readonly FunctionStatus[]): string {
  const count = (n: number | null): string => (n === null ? '-' : String(n))
  const rows: string[][] = [
    [...HEADER],
    ...statuses.map((s) => [
      s.name,
      s.version.slice(0, 12),
      s.subject,
      s.stream,
      count(s.pending),
      count(s.inFlight),
      count(s.redelivered),
      s.dlqProblem === null ? count(s.dlq) : `${count(s.dlq)}!`,
      s.pausedUntil === null ? '-' : s.pausedUntil >= PAUSED_INDEFINITELY.toISOString() ? 'until resumed' : `until ${s.pausedUntil}`,
      s.deployedAt,
      `${s.deployedBy.user}@${s.deployedBy.host}`,
    ]),
  ]
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows
    .map((r) =>
      r
        .map((cell, i) => (NUMERIC.has(i) ? cell.padStart(widths[i]!) : i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  '),
    )
    .join('\n')
}
