import { listSchedules, type ScheduleEntry } from '../../schedule/list-schedules.ts'
import type { ParsedArgs } from '../parse-args.ts'
import { withRegistry } from './registry-command.ts'

/** `fn schedules [--json]`: every schedule in `FN_SCHEDULES`, with its next fire time; returns the exit code. */
export async function runSchedules(args: ParsedArgs): Promise<number> {
  const entries = await withRegistry(args.config, { role: 'viewer' }, ({ jsm }) => listSchedules(jsm))
  if (args.options.json) console.log(JSON.stringify(entries, null, 2))
  else if (entries.length === 0) console.log('no schedules (functions with `schedule`, delayed outputs and debounce runs appear here)')
  else console.log(formatScheduleTable(entries))
  return 0
}

const HEADER = ['FUNCTION', 'KIND', 'SPEC', 'TIME ZONE', 'NEXT', 'TARGET'] as const

/** The `fn schedules` table: one row per schedule, columns separated by two spaces. */
export function formatScheduleTable(entries: readonly ScheduleEntry[]): string {
  const rows: string[][] = [
    [...HEADER],
    ...entries.map((e) => [e.function ?? '-', e.kind === 'debounce' ? `debounce ${JSON.stringify(e.key ?? '')}` : e.kind, e.spec, e.timeZone ?? (e.kind === 'cron' ? 'UTC' : '-'), e.next ?? '-', e.target]),
  ]
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n')
}
