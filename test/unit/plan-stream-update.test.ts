import { describe, expect, it } from 'vitest'
import { RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { planStreamUpdate, subjectCovers, type StreamField, type StreamSpec } from '../../runtime/nats/plan-stream-update.ts'

/** A stream as the server reports it: R3, file, 1h max age, 2m duplicate window, two subjects. */
const server: StreamConfig = {
  name: 'ORDERS',
  subjects: ['orders.>', 'refunds.>'],
  storage: StorageType.File,
  retention: RetentionPolicy.Limits,
  num_replicas: 3,
  max_age: nanos(3_600_000),
  duplicate_window: nanos(120_000),
  max_msgs: 1_000,
  max_bytes: -1,
} as StreamConfig

/** What `fn.config.ts` resolves to when it writes only `written` (other fields: defaults). */
function spec(written: StreamField[], set: Partial<StreamSpec> = {}): StreamSpec {
  return { name: 'ORDERS', subjects: ['orders.>'], storage: 'file', replicas: 1, maxAgeMs: 0, duplicateWindowMs: 120_000, ...set, written }
}

describe('planStreamUpdate', () => {
  it('leaves every field the file did not write as the server has it', () => {
    // Only subjects written (the defaults would be R1, unlimited age): nothing to do.
    expect(planStreamUpdate(server, spec(['subjects'], { subjects: ['orders.>', 'refunds.>'] }))).toEqual({ action: 'none' })
  })

  it('adds a subject', () => {
    expect(planStreamUpdate(server, spec(['subjects'], { subjects: ['orders.>', 'refunds.>', 'returns.>'] }))).toEqual({
      action: 'update',
      changes: { subjects: ['orders.>', 'refunds.>', 'returns.>'] },
      fields: ['subjects'],
    })
  })

  it('widens a subject: the narrower one is still stored', () => {
    const narrow = { ...server, subjects: ['orders.created'] }
    expect(planStreamUpdate(narrow, spec(['subjects'], { subjects: ['orders.>'] }))).toMatchObject({ action: 'update', changes: { subjects: ['orders.>'] } })
  })

  it('refuses a subject removed, naming the stream, the field, old and new value', () => {
    expect(planStreamUpdate(server, spec(['subjects']))).toEqual({
      action: 'refuse',
      reasons: [
        "stream ORDERS: 'subjects' would go from ['orders.>', 'refunds.>'] to ['orders.>'] (removing 'refunds.>' stops storing its messages); change it on the server yourself if you mean it",
      ],
    })
  })

  it('raises replicas and refuses fewer', () => {
    expect(planStreamUpdate(server, spec(['subjects', 'replicas'], { subjects: server.subjects!, replicas: 5 }))).toEqual({
      action: 'update',
      changes: { num_replicas: 5 },
      fields: ['replicas'],
    })
    expect(planStreamUpdate(server, spec(['replicas'], { replicas: 1 }))).toEqual({
      action: 'refuse',
      reasons: ["stream ORDERS: 'replicas' would go from 3 to 1 (fewer replicas loses redundancy); change it on the server yourself if you mean it"],
    })
  })

  it('raises maxAge (unlimited is the largest) and refuses a smaller one', () => {
    expect(planStreamUpdate(server, spec(['maxAge'], { maxAgeMs: 7_200_000 }))).toEqual({ action: 'update', changes: { max_age: nanos(7_200_000) }, fields: ['maxAge'] })
    expect(planStreamUpdate(server, spec(['maxAge'], { maxAgeMs: 0 }))).toEqual({ action: 'update', changes: { max_age: 0 }, fields: ['maxAge'] })
    expect(planStreamUpdate(server, spec(['maxAge'], { maxAgeMs: 600_000 }))).toEqual({
      action: 'refuse',
      reasons: ["stream ORDERS: 'maxAge' would go from '1h' to '10m' (a smaller limit removes messages the stream keeps now); change it on the server yourself if you mean it"],
    })
    const unlimited = { ...server, max_age: 0 }
    expect(planStreamUpdate(unlimited, spec(['maxAge'], { maxAgeMs: 86_400_000 }))).toMatchObject({
      action: 'refuse',
      reasons: [expect.stringContaining("'maxAge' would go from 0 (unlimited) to '1d'")],
    })
  })

  it('refuses another storage', () => {
    expect(planStreamUpdate(server, spec(['storage'], { storage: 'memory' }))).toEqual({
      action: 'refuse',
      reasons: ["stream ORDERS: 'storage' would go from file to memory (the server cannot move a stream to another storage); change it on the server yourself if you mean it"],
    })
  })

  it("changes the duplicate window, but not past the stream's max age", () => {
    expect(planStreamUpdate(server, spec(['duplicateWindow'], { duplicateWindowMs: 30_000 }))).toEqual({
      action: 'update',
      changes: { duplicate_window: nanos(30_000) },
      fields: ['duplicateWindow'],
    })
    // maxAge not written: the server's 1h counts.
    expect(planStreamUpdate(server, spec(['duplicateWindow'], { duplicateWindowMs: 7_200_000 }))).toMatchObject({
      action: 'refuse',
      reasons: ["stream ORDERS: 'duplicateWindow' would go from '2m' to '2h' (longer than the stream's maxAge '1h': the server refuses it); change it on the server yourself if you mean it"],
    })
  })

  it('reports every refused field at once and applies nothing', () => {
    const plan = planStreamUpdate(server, spec(['subjects', 'replicas', 'maxAge', 'storage'], { replicas: 5, storage: 'memory', maxAgeMs: 60_000, subjects: ['orders.>', 'refunds.>', 'x.>'] }))
    expect(plan.action).toBe('refuse')
    expect(plan.action === 'refuse' && plan.reasons.map((r) => r.split("'")[1])).toEqual(['storage', 'maxAge'])
  })

  it('applies every field when none is marked as written (a spec jetfn builds itself)', () => {
    const { written: _, ...full } = spec([], { subjects: server.subjects!, replicas: 3, maxAgeMs: 3_600_000, duplicateWindowMs: 60_000 })
    expect(planStreamUpdate(server, full)).toEqual({ action: 'update', changes: { duplicate_window: nanos(60_000) }, fields: ['duplicateWindow'] })
  })
})

describe('subjectCovers', () => {
  it.each([
    ['orders.>', 'orders.created', true],
    ['orders.>', 'orders.*.x', true],
    ['orders.>', 'orders.>', true],
    ['orders.>', 'orders', false],
    ['orders.*', 'orders.created', true],
    ['orders.*', 'orders.a.b', false],
    ['orders.*', 'orders.>', false],
    ['orders.created', 'orders.*', false],
    ['orders.created', 'orders.created', true],
    ['>', 'anything.at.all', true],
  ])('%s covers %s: %s', (outer, inner, covers) => {
    expect(subjectCovers(outer, inner)).toBe(covers)
  })
})
