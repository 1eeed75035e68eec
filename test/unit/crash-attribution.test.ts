import { describe, expect, it } from 'vitest'
import { attributeFailure, type FailedTask } from '../../runtime/pool/crash-attribution.ts'
import { Progress } from '../../runtime/pool/protocol.ts'

const NOW = 1_000_000
function task(progress: number[], opts: Partial<FailedTask> = {}): FailedTask {
  return { size: progress.length, progress: Float64Array.from([...progress, 7]), timedOut: new Set(), tracked: false, fn: { timeoutMs: 100, timeoutGraceMs: 50 }, ...opts }
}
const kinds = (t: FailedTask, a: ReturnType<typeof attributeFailure>) => Array.from({ length: t.size }, (_, i) => {
  const o = a.outcomeOf(t, i)
  return o.kind === 'retry' ? `${o.kind}:${o.errorKind}` : o.kind
})

describe('attributeFailure', () => {
  it('a thread killed for a timeout fails the late handler as timeout and requeues the rest', () => {
    const t = task([NOW - 500, NOW - 10, Progress.Queued], { timedOut: new Set([0]) })
    const a = attributeFailure([t], new Error('Terminating worker thread'), true, NOW)
    expect(kinds(t, a)).toEqual(['retry:timeout', 'requeue', 'requeue'])
    expect(a.crashed).toBe(false)
  })

  it('the pool closing blames nobody', () => {
    const t = task([NOW - 5, Progress.Culprit])
    expect(kinds(t, attributeFailure([t], Object.assign(new Error('closed'), { name: 'AbortError' }), false, NOW))).toEqual(['requeue', 'requeue'])
  })

  it('a culprit named by the worker is the only one failed, as crash with its run time', () => {
    const a = task([NOW - 5, Progress.Culprit, Progress.Done])
    const b = task([NOW - 3])
    const verdict = attributeFailure([a, b], new Error('boom'), false, NOW)
    expect(kinds(a, verdict)).toEqual(['requeue', 'retry:crash', 'requeue'])
    expect(kinds(b, verdict)).toEqual(['requeue'])
    expect(verdict.outcomeOf(a, 1)).toMatchObject({ error: { name: 'WorkerCrash', message: 'worker thread died: boom' } })
  })

  it('without a culprit or tracking, hands everything back and starts tracking', () => {
    const t = task([NOW - 5, NOW - 1])
    const verdict = attributeFailure([t], new Error('exit'), false, NOW)
    expect(kinds(t, verdict)).toEqual(['requeue', 'requeue'])
    expect(verdict.startTracking).toBe(true)
  })

  it('with tracking on and no culprit, blames the handlers that were running', () => {
    const t = task([NOW - 5, Progress.Done, Progress.Queued], { tracked: true })
    const verdict = attributeFailure([t], new Error('exit'), false, NOW)
    expect(kinds(t, verdict)).toEqual(['retry:crash', 'requeue', 'requeue'])
    expect(verdict.outcomeOf(t, 0)).toMatchObject({ durationMs: 5 })
  })
})
