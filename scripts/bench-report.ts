/**
 * What one benchmark case reports, and the table `npm run bench` prints from those reports.
 */

/** One side of a case: a number, its unit, and how it reads in the table. */
export interface Figure {
  value: number | null
  unit: string
  text: string
}

/** The result of one case: the baseline and jetfn measured in the same run, compared. */
export interface CaseResult {
  case: string
  title: string
  baseline: Figure
  jetfn: Figure
  /** jetfn / baseline, or for latency jetfn p99 − raw p99 in ms, or for deploy the jetfn figure. */
  comparison: { kind: 'ratio' | 'difference' | 'value'; value: number; text: string }
  target: string
  /** Whether the target is met; null where a figure is shown and not judged (a peer, a missing tool). */
  pass: boolean | null
  /** Every run and side figure behind the row. */
  details: Record<string, unknown>
}

export function msgRate(n: number, ms: number): number {
  return Math.round(n / (ms / 1000))
}

export function fmtInt(x: number): string {
  return Math.round(x).toLocaleString('en')
}

export function mib(bytes: number): number {
  return +(bytes / 2 ** 20).toFixed(1)
}

/** The table of every case: case, baseline, jetfn, comparison, target, pass or fail. */
export function renderTable(results: readonly (CaseResult | { case: string; error: string })[]): string {
  const rows = [['case', 'baseline', 'jetfn', 'ratio', 'target', 'result']]
  for (const r of results) {
    if ('error' in r) rows.push([r.case, '-', '-', '-', '-', `ERROR ${r.error.split('\n')[0]}`])
    else rows.push([r.title, r.baseline.text, r.jetfn.text, r.comparison.text, r.target, r.pass === null ? '-' : r.pass ? 'pass' : 'FAIL'])
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n')
}
