import { describe, expect, it } from 'vitest'
import { subjectWithin } from '../../runtime/nats/find-stream.ts'

describe('subjectWithin', () => {
  it.each([
    // literal patterns
    ['orders.created', 'orders.created'],
    ['orders', 'orders'],
    // `*` matches exactly one token
    ['orders.created', 'orders.*'],
    ['orders.created.eu', 'orders.*.eu'],
    ['orders.created', '*.created'],
    ['orders.created', '*.*'],
    // `>` matches one or more tokens at the end
    ['orders.created', 'orders.>'],
    ['orders.created.eu.1', 'orders.>'],
    ['orders.created', '>'],
    ['orders', '>'],
    ['orders.created.eu', '*.created.>'],
    // a wildcard subject within a wider pattern
    ['orders.*', 'orders.*'],
    ['orders.*', 'orders.>'],
    ['orders.>', 'orders.>'],
    ['orders.*.eu', 'orders.>'],
    ['orders.*.eu', 'orders.*.*'],
    ['orders.>', '>'],
    ['*', '*'],
    ['*.created', '*.*'],
  ])('%s is within %s', (subject, pattern) => {
    expect(subjectWithin(subject, pattern)).toBe(true)
  })

  it.each([
    // different literals
    ['orders.created', 'orders.updated'],
    ['orders.created', 'order.created'],
    // token count differs
    ['orders.created.eu', 'orders.created'],
    ['orders.created', 'orders.created.eu'],
    ['orders.created.eu', 'orders.*'],
    // `>` needs at least one token
    ['orders', 'orders.>'],
    // a wildcard subject is wider than a literal pattern
    ['orders.*', 'orders.created'],
    ['orders.>', 'orders.created'],
    ['*.created', 'orders.created'],
    // `>` covers more than `*` does
    ['orders.>', 'orders.*'],
    ['orders.>', 'orders.*.*'],
    ['>', 'orders.>'],
    ['>', '*'],
    // unrelated
    ['payments.created', 'orders.>'],
  ])('%s is not within %s', (subject, pattern) => {
    expect(subjectWithin(subject, pattern)).toBe(false)
  })
})
