// The issue 19 targets table of `npm run bench`: each target judged from the case that measures
// it, and a target whose case did not run marked as not measured, with the flag that measures it.
import { describe, expect, it } from 'vitest'
import type { CaseResult } from '../../scripts/bench-report.ts'
import { issueTargets, renderTargets } from '../../scripts/bench-targets.ts'

function result(name: string, value: number, details: Record<string, unknown> = {}, kind: 'ratio' | 'difference' = 'ratio'): CaseResult {
  return {
    case: name,
    title: name,
    baseline: { value: 100, unit: 'msg/s', text: '100 msg/s' },
    jetfn: { value: 100 * value, unit: 'msg/s', text: `${100 * value} msg/s` },
    comparison: { kind, value, text: `${value}x` },
    target: '-',
    pass: null,
    details,
  }
}

describe('issueTargets', () => {
  it('judges every target from the cases of the run', () => {
    const targets = issueTargets([
      result('throughput', 0.6, { rawCpuUsPerMsgRuns: [9, 10, 11], jetfnCpuUsPerMsgRuns: [14, 15, 30] }),
      result('cpu', 1.79),
      result('latency', 5, {}, 'difference'),
      result('memory', 1.1),
      result('cold', 0.81, { defaultConcurrencyRatio: 0.5, coldDefaultConcurrencyRuns: [40, 50, 60] }),
      result('peer-piscina', 0.99),
      { case: 'many', error: 'boom' },
    ])
    expect(targets.map((t) => [t.goal, t.met])).toEqual([
      ['<= 1.5x', true], // median 15 / median 10
      ['>= 0.8x', true],
      ['>= 0.8x', false], // the default concurrency: 0.5x
      ['<= raw + 5 ms', true],
      ['>= 1.8x', false],
      ['<= 1.1x', true],
      ['>= 1.0x', false],
    ])
    expect(targets[0]!.value).toBe(1.5)
    expect(targets[0]!.measured).not.toMatch(/raw loop on threads/)
  })

  it('shows, beside the CPU target, what the raw loop on threads spends over the raw client', () => {
    const [cpu] = issueTargets([result('throughput', 0.6, { rawCpuUsPerMsgRuns: [6, 5, 7], jetfnCpuUsPerMsgRuns: [14, 13, 15], rawThreadsCpuUsPerMsgRuns: [9.9, 9, 9.6] })])
    expect(cpu).toMatchObject({ met: false, value: 2.333 })
    expect(cpu!.measured).toMatch(/raw loop on threads with their own connections, no handler: 1\.60x\)$/)
  })

  it('shows a ratio as the case table does, not rounded a second time', () => {
    // 95,770 / 98,182 msg/s: 0.9754 shown as 0.98x by the case, kept as 0.975 in the JSON.
    const cold = { ...result('cold', 0.975, { defaultConcurrencyRatio: 0.887, coldDefaultConcurrencyRuns: [87_143] }), comparison: { kind: 'ratio' as const, value: 0.975, text: '0.98x (default concurrency 8: 87,143 msg/s, 0.89x)' } }
    const [, coldTarget] = issueTargets([cold])
    expect(coldTarget!.measured).toMatch(/^0\.98x \(/)
  })

  it('marks what the run did not measure, and shows BullMQ without judging it', () => {
    const bullmq = { ...result('peer-bullmq', NaN), baseline: { value: null, unit: 'msg/s', text: 'redis-server not installed: apt-get install redis-server' } }
    const targets = issueTargets([bullmq])
    expect(targets.slice(0, 7).every((t) => t.met === null && t.measured.startsWith('not measured: --'))).toBe(true)
    expect(targets[7]).toMatchObject({ met: null, measured: expect.stringMatching(/apt-get install redis-server/) })
    const table = renderTargets(targets).split('\n')
    expect(table[0]).toMatch(/^\| issue 19 target +\| measured +\| target +\| result +\|$/)
    expect(table).toHaveLength(2 + 8)
  })
})
