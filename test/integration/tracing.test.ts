/**
 * Trace context through messages, as a collector sees it: a publisher starts a trace (with the
 * header names a Go client sends, `Traceparent`/`Tracestate`); `fn start` exports a span per
 * attempt to an in-process OTLP receiver; the trace goes on through the function, its
 * `ctx.publish` output, the function consuming that output, and the dead letter it ends in.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { headers as natsHeaders } from '@nats-io/transport-node'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { okFunctionSource, type DevProject } from '../helpers/dev-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { startOtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts'
import { deadLetters } from '../helpers/runtime.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

function functions(prefix: string): Record<string, string> {
  return {
    'relay.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({ name: '${prefix}_relay', subject: '${prefix}.in.relay', async handler(event, ctx) { ctx.publish('${prefix}.in.fail', event.data) } })
`,
    'fail.ts': `import { defineFunction, NonRetryableError } from 'jetfn'
export default defineFunction({ name: '${prefix}_fail', subject: '${prefix}.in.fail', async handler() { throw new NonRetryableError('refused') } })
`,
  }
}

async function deployAndStart(p: DevProject, names: string[], env: NodeJS.ProcessEnv = {}): Promise<FnReplica> {
  const deployed = await runFn(p, ['deploy'], t.server.url)
  expect(deployed.stderr).toBe('')
  const replica = spawnStart(p, t.server.url, 'fn start', [], undefined, env)
  t.replicas.push(replica)
  for (const name of names) await replica.waitFor((r) => r.msg === 'function version live' && r.fn === name, `${name} live`)
  return replica
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex')

function spanOf(spans: ReceivedSpan[], fn: string): ReceivedSpan | undefined {
  return spans.find((s) => s.attributes['jetfn.function'] === fn)
}

describe('tracing', () => {
  it('continues a publisher\'s trace through a function, its output, the next function and its dead letter', async () => {
    const receiver = await startOtlpReceiver()
    t.cleanup.push(() => receiver.close())
    const prefix = uniquePrefix()
    const p = await t.project(prefix, functions(prefix), { otel: { endpoint: receiver.url, serviceName: 'orders', exportDelay: '100ms' } })
    const relay = `${prefix}_relay`
    const fail = `${prefix}_fail`
    const replica = await deployAndStart(p, [relay, fail])
    await replica.waitFor((r) => r.msg === 'tracing on: spans exported over OTLP', 'tracing on')

    // The publisher's span, as a Go client writes it: capitalised header names.
    const traceId = hex(16)
    const publisherSpan = hex(8)
    const h = natsHeaders()
    h.set('Traceparent', `00-${traceId}-${publisherSpan}-01`)
    h.set('Tracestate', 'vendor=abc')
    await t.js.publish(`${prefix}.in.relay`, JSON.stringify({ orderId: 'o-1' }), { headers: h })

    await expect.poll(() => spanOf(receiver.spans, fail), { timeout: 20_000 }).toBeDefined()
    await expect.poll(() => spanOf(receiver.spans, relay), { timeout: 20_000 }).toBeDefined()
    const first = spanOf(receiver.spans, relay)!
    const second = spanOf(receiver.spans, fail)!

    // The first function's attempt is a child of the publisher's span.
    expect(first).toMatchObject({ service: 'orders', name: `process ${relay}`, traceId, parentSpanId: publisherSpan, kind: 5 /* CONSUMER */ })
    const manifest = await t.registry.get(relay)
    expect(first.attributes).toMatchObject({
      'jetfn.function': relay,
      'jetfn.version': manifest!.version,
      'jetfn.stream': prefix,
      'jetfn.seq': 1,
      'jetfn.delivery': 1,
      'jetfn.outcome': 'ok',
      'messaging.system': 'nats',
      'messaging.destination.name': `${prefix}.in.relay`,
    })
    expect(first.attributes['jetfn.error_kind']).toBeUndefined()

    // Its output carries the attempt's span as parent, and the publisher's trace state.
    const output = await t.jsm.streams.getMessage(prefix, { last_by_subj: `${prefix}.in.fail` })
    expect(output!.header.get('traceparent')).toBe(`00-${traceId}-${first.spanId}-01`)
    expect(output!.header.get('tracestate')).toBe('vendor=abc')

    // The function consuming that output continues the same trace, and says how it failed.
    expect(second).toMatchObject({ traceId, parentSpanId: first.spanId, status: { code: 2, message: 'NonRetryableError: refused' } })
    expect(second.attributes).toMatchObject({ 'jetfn.function': fail, 'jetfn.outcome': 'dead-lettered', 'jetfn.error_kind': 'non-retryable', 'jetfn.seq': 2, 'jetfn.delivery': 1 })

    // The dead letter keeps the trace context of the message that failed.
    await expect.poll(async () => (await deadLetters(t.jsm, fail)).length, { timeout: 15_000 }).toBe(1)
    const [dead] = await deadLetters(t.jsm, fail)
    expect(dead!.header.get('traceparent')).toBe(`00-${traceId}-${first.spanId}-01`)
    expect(dead!.header.get('Fn-Error-Kind')).toBe('non-retryable')
  })

  it('is turned on by OTEL_EXPORTER_OTLP_ENDPOINT, and starts a trace for a message that has none', async () => {
    const receiver = await startOtlpReceiver()
    t.cleanup.push(() => receiver.close())
    const prefix = uniquePrefix()
    const p = await t.project(prefix, { 'ok.ts': okFunctionSource(prefix) })
    const ok = `${prefix}_ok`
    await deployAndStart(p, [ok], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'from-env', OTEL_BSP_SCHEDULE_DELAY: '100' })
    await t.js.publish(`${prefix}.in.ok`, '{}')
    await expect.poll(() => spanOf(receiver.spans, ok), { timeout: 20_000 }).toBeDefined()
    const span = spanOf(receiver.spans, ok)!
    expect(span).toMatchObject({ service: 'from-env', parentSpanId: undefined })
    expect(span.traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(span.attributes['jetfn.outcome']).toBe('ok')
  })
})
