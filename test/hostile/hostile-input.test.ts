/**
 * Hostile input, as a hostile publisher sends it: a raw TCP client (`test/helpers/raw-nats.ts`)
 * publishes what no client library will (header names with spaces, control and non-ASCII bytes,
 * thousands of headers, header blocks and payloads at the server's limits, bytes that are not
 * JSON) to a subject that two functions of one real `fn start` replica consume: `hostile-json`
 * and `hostile-binary` (`test/fixtures/functions/`). Beside them `hostile-steady` gets a message
 * every 100 ms for the whole file, and must never stall.
 *
 * At the end a ledger checks every published sequence: for each function exactly one output or
 * exactly one dead letter, of the kind the contract says; nothing pending on any consumer; no
 * MAX_DELIVERIES advisory (the server dropped nothing); the steady function never stalled > 2 s.
 *
 * The random mix is seeded: `HOSTILE_SEED=<n> npx vitest run test/hostile` replays a failing run.
 */
import { createHash, randomInt } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { JsMsg } from '@nats-io/jetstream'
import { Objm } from '@nats-io/obj'
import type { Subscription } from '@nats-io/transport-node'
import type { DeadLetterDetailJson } from '../../runtime/dlq/dead-letter-json.ts'
import type { DevProject } from '../helpers/dev-process.ts'
import { runFn, spawnStart, type FnReplica } from '../helpers/fn-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { RawNatsClient, RawPubAckError, headerBlock } from '../helpers/raw-nats.ts'
import { useTestServer } from '../helpers/test-server.ts'
import { Ledger, dlHeader, follow, type DeadLetter, type Expectation, type Published } from './ledger.ts'

const t = useTestServer()

const SEED = process.env.HOSTILE_SEED !== undefined ? Number(process.env.HOSTILE_SEED) : randomInt(2 ** 31)
const MIX = 10_000
/** PubAcks awaited at once while the mix is published. */
const WINDOW = 256
const STEADY_EVERY_MS = 100
const STALL_MS = 2_000
const FIXTURES = fileURLToPath(new URL('../fixtures/functions/', import.meta.url))

const prefix = uniquePrefix()
const fn = { json: `${prefix}_json`, binary: `${prefix}_binary`, steady: `${prefix}_steady` }
const SUBJECT = `${prefix}.in`

let project: DevProject
let replica: FnReplica
let raw: RawNatsClient
const versions: Record<string, string> = {}
const ledger = new Ledger([fn.json, fn.binary])
const followers: Array<{ stop(): Promise<void> }> = []
const subs: Subscription[] = []
const advisories: string[] = []
/** Dead letters the last test reads back with `fn dlq show`. */
const readBack: Array<{ name: string; dlqSeq: number; payload: Buffer; what: string }> = []

// The steady function: when each message was sent, when its output arrived.
const steady = {
  timer: undefined as NodeJS.Timeout | undefined,
  sent: new Map<number, number>(),
  arrived: [] as Array<{ seq: number; at: number }>,
  publishErrors: [] as string[],
}

// ---------------------------------------------------------------------------------------------
// Messages

interface Case {
  label: string
  headers?: Buffer
  payload: Buffer
  expect: { json: Expectation; binary: Expectation }
}

const OUTPUT = { json: 'output', binary: 'output' } as const
const DECODE_BOTH = { json: { dead: 'decode' }, binary: { dead: 'decode' } } as const
const NOT_JSON = { json: { dead: 'decode' }, binary: 'output' } as const
const EITHER = { json: 'output-or-decode', binary: 'output-or-decode' } as const
const JSON_ANY = { json: 'output-or-dead', binary: 'output' } as const

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1')
/** `n` header lines `a:1`: the most lines a 64 KiB block holds. */
const tinyHeaders = (n: number): Buffer => headerBlock(Array.from({ length: n }, () => 'a:1'))
/** One header `X-Big` whose value fills the block to exactly `total` bytes. */
function sizedHeaderBlock(total: number, extra: string[] = []): Buffer {
  const base = headerBlock([...extra, 'X-Big: ']).length
  return headerBlock([...extra, `X-Big: ${'x'.repeat(total - base)}`])
}
/** Valid JSON of exactly `size` bytes. */
function jsonOfSize(size: number, fields: Record<string, unknown> = {}): Buffer {
  const base = JSON.stringify({ ...fields, pad: '' }).length
  return json({ ...fields, pad: 'p'.repeat(size - base) })
}
/** `size` bytes that are not JSON (nor UTF-8). */
const garbageOfSize = (size: number, seed: number): Buffer => {
  const b = Buffer.alloc(size)
  let x = seed | 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  b[0] = 0xff
  return b
}
const deepArrays = (depth: number): Buffer => Buffer.from('['.repeat(depth) + ']'.repeat(depth))
const deepObjects = (depth: number): Buffer => Buffer.from('{"a":'.repeat(depth) + '1' + '}'.repeat(depth))

/** The named cases, each published once, in this order. */
function namedCases(maxPayload: number): Case[] {
  const body = (label: string) => json({ case: label })
  return [
    { label: 'header name with a space', headers: headerBlock(['X-Ok: yes', 'Bad Key: 1']), payload: body('space'), expect: DECODE_BOTH },
    { label: 'header name with control bytes', headers: headerBlock([latin1('X\x01Ctl\x07: 1')]), payload: body('control'), expect: DECODE_BOTH },
    { label: 'header name with a tab', headers: headerBlock([latin1('X\tTab: 1')]), payload: body('tab'), expect: DECODE_BOTH },
    { label: 'header name with DEL', headers: headerBlock([latin1('X-Del\x7f: 1')]), payload: body('del'), expect: DECODE_BOTH },
    { label: 'header name with non-ASCII UTF-8', headers: headerBlock(['Kéy-Ü: 1']), payload: body('utf8 name'), expect: DECODE_BOTH },
    { label: 'header name with a 0xff byte', headers: headerBlock([latin1('K\xffy: 1')]), payload: body('ff name'), expect: DECODE_BOTH },
    {
      // Over 8 KiB of raw block: kept as an object, not in a header.
      label: 'header name with a space in a 20 KiB block',
      headers: sizedHeaderBlock(20 * 1024, ['Bad Key: 1']),
      payload: body('space, big block'),
      expect: DECODE_BOTH,
    },
    { label: 'bad header name, payload not JSON', headers: headerBlock(['Bad Key: 1']), payload: latin1('\xff\xfe not json'), expect: DECODE_BOTH },
    { label: '10,000 headers', headers: tinyHeaders(10_000), payload: body('10k headers'), expect: DECODE_BOTH },
    { label: '13,000 headers (64 KiB block)', headers: tinyHeaders(13_000), payload: body('13k headers'), expect: DECODE_BOTH },
    { label: '1,001 headers', headers: tinyHeaders(1_001), payload: body('1001 headers'), expect: DECODE_BOTH },
    { label: '1,000 headers', headers: tinyHeaders(1_000), payload: body('1000 headers'), expect: OUTPUT },
    { label: 'header block of 65,535 bytes (the server limit)', headers: sizedHeaderBlock(65_535), payload: body('64k block'), expect: OUTPUT },
    {
      // Its dead letter cannot carry the original headers: with the Fn-* ones they pass the
      // server's 64 KiB header limit.
      label: 'header block of 65,535 bytes, payload not JSON',
      headers: sizedHeaderBlock(65_535),
      payload: latin1('not json'),
      expect: NOT_JSON,
    },
    { label: 'payload of exactly max_payload, JSON', payload: jsonOfSize(maxPayload, { case: 'max json' }), expect: OUTPUT },
    { label: 'payload of exactly max_payload, not JSON', payload: garbageOfSize(maxPayload, 7), expect: NOT_JSON },
    {
      label: 'max_payload less 400 bytes, not JSON, with a header',
      headers: headerBlock(['X-Trace: big']),
      payload: garbageOfSize(maxPayload - 400 - headerBlock(['X-Trace: big']).length, 11),
      expect: NOT_JSON,
    },
    { label: 'empty payload', payload: Buffer.alloc(0), expect: NOT_JSON },
    { label: 'empty payload with headers', headers: headerBlock(['X-Empty: yes']), payload: Buffer.alloc(0), expect: NOT_JSON },
    { label: 'binary payload', payload: garbageOfSize(4096, 3), expect: NOT_JSON },
    { label: 'invalid UTF-8 inside a JSON string', payload: Buffer.concat([latin1('{"s":"'), Buffer.from([0xc3, 0x28, 0xff]), latin1('"}')]), expect: NOT_JSON },
    { label: 'invalid JSON', payload: Buffer.from('{"a":'), expect: NOT_JSON },
    { label: '100,000-deep nested arrays', payload: deepArrays(100_000), expect: JSON_ANY },
    { label: '100,000-deep nested objects', payload: deepObjects(100_000), expect: JSON_ANY },
    {
      label: '__proto__ and constructor keys',
      payload: Buffer.from('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"a":{"__proto__":{"polluted":1}}}'),
      expect: JSON_ANY,
    },
    {
      label: 'huge numbers',
      payload: Buffer.from(`{"inf":1e999,"ninf":-1e999,"tiny":1e-999,"big":${'9'.repeat(5_000)},"neg":-${'1'.repeat(400)}.5e-400}`),
      expect: JSON_ANY,
    },
    { label: 'status line 503 on a stored message', headers: headerBlock([], 'NATS/1.0 503'), payload: body('503'), expect: EITHER },
    { label: 'status line 100 Idle Heartbeat on a stored message', headers: headerBlock(['X-A: 1'], 'NATS/1.0 100 Idle Heartbeat'), payload: body('100'), expect: EITHER },
    { label: 'status line 409 Consumer Deleted on a stored message', headers: headerBlock([], 'NATS/1.0 409 Consumer Deleted'), payload: body('409'), expect: EITHER },
    { label: 'header line without a colon', headers: headerBlock(['X-A: 1', 'NoColonHere']), payload: body('no colon'), expect: EITHER },
    { label: 'header value with NUL and control bytes', headers: headerBlock([latin1('X-Val: a\x00b\x07c\x1b[31m')]), payload: body('value ctl'), expect: EITHER },
    { label: 'header value not UTF-8', headers: headerBlock([latin1('X-Val: \xff\xfe\xc3')]), payload: body('value bytes'), expect: EITHER },
    {
      // A publisher's own Fn-* headers must not stand in for the runtime's.
      label: 'spoofed Fn-* headers, payload not JSON',
      headers: headerBlock(['Fn-Function: someone-else', 'Fn-Source-Seq: 1', 'Fn-Error-Kind: error', 'Fn-Source-Stream: NOPE', 'Fn-Payload-Object: dlq:x:y:1']),
      payload: latin1('not json'),
      expect: NOT_JSON,
    },
    { label: 'handler refuses (NonRetryableError)', payload: json({ reject: true }), expect: { json: { dead: 'non-retryable' }, binary: 'output' } },
    { label: 'plain good message after all that', headers: headerBlock(['X-Trace: end']), payload: body('good'), expect: OUTPUT },
  ]
}

/** A small PRNG (mulberry32): the same seed gives the same mix. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** The kinds of the random mix: weight, and a maker of one message. */
function mixKinds(maxPayload: number): Array<[number, string, (i: number, r: () => number) => Omit<Case, 'label'>]> {
  const int = (r: () => number, n: number) => Math.floor(r() * n)
  return [
    [50, 'good', (i, r) => ({ payload: json({ i, pad: 'g'.repeat(int(r, 200)) }), expect: OUTPUT })],
    [8, 'good with headers', (i, r) => ({ headers: headerBlock([`X-Trace: t-${i}`, 'X-Multi: a', 'X-Multi: b', `X-N: ${int(r, 1e9)}`]), payload: json({ i }), expect: OUTPUT })],
    [4, 'header name with a space', (i) => ({ headers: headerBlock([`Bad Key ${i}: 1`]), payload: json({ i }), expect: DECODE_BOTH })],
    [3, 'header name with a control byte', (i, r) => ({ headers: headerBlock(['X-Ok: 1', Buffer.concat([latin1('X-'), Buffer.from([1 + int(r, 31)]), latin1(`-${i}: 1`)])]), payload: json({ i }), expect: DECODE_BOTH })],
    [3, 'header name not ASCII', (i, r) => ({ headers: headerBlock([Buffer.concat([latin1('X-'), Buffer.from([0x80 + int(r, 128)]), latin1(`: ${i}`)])]), payload: json({ i }), expect: DECODE_BOTH })],
    [1, 'over 1,000 headers', (i, r) => ({ headers: tinyHeaders(1_001 + int(r, 12_000)), payload: json({ i }), expect: DECODE_BOTH })],
    [0.5, 'up to 1,000 headers', (i, r) => ({ headers: tinyHeaders(1 + int(r, 1_000)), payload: json({ i }), expect: OUTPUT })],
    [3, 'empty', () => ({ payload: Buffer.alloc(0), expect: NOT_JSON })],
    [4, 'binary', (i, r) => ({ payload: garbageOfSize(1 + int(r, 2_000), i + 1), expect: NOT_JSON })],
    [3, 'invalid UTF-8', (i, r) => ({ payload: Buffer.concat([latin1(`{"i":${i},"s":"`), Buffer.from([0x80 + int(r, 64), 0xff]), latin1('"}')]), expect: NOT_JSON })],
    [4, 'invalid JSON', (i) => ({ payload: Buffer.from(`{"i":${i},`), expect: NOT_JSON })],
    [3, 'handler refuses', () => ({ payload: json({ reject: true }), expect: { json: { dead: 'non-retryable' }, binary: 'output' } })],
    [2, '__proto__ keys', (i) => ({ payload: Buffer.from(`{"i":${i},"__proto__":{"polluted":true}}`), expect: JSON_ANY })],
    [2, 'huge numbers', (i, r) => ({ payload: Buffer.from(`{"i":${i},"n":1e${300 + int(r, 5_000)},"m":${'7'.repeat(1 + int(r, 2_000))}}`), expect: JSON_ANY })],
    [1, 'deep JSON', (_i, r) => ({ payload: int(r, 2) ? deepArrays(1 + int(r, 20_000)) : deepObjects(1 + int(r, 20_000)), expect: JSON_ANY })],
    [1, 'status line', (i, r) => ({ headers: headerBlock([`X-I: ${i}`], ['NATS/1.0 503', 'NATS/1.0 100 Idle Heartbeat', 'NATS/1.0 408 Request Timeout', 'NATS/1.0 404 No Messages'][int(r, 4)]), payload: json({ i }), expect: EITHER })],
    [1, 'header value with control bytes', (i) => ({ headers: headerBlock([latin1(`X-V: ${i}\x00\x01\x7f\xff`)]), payload: json({ i }), expect: EITHER })],
    [1, 'spoofed Fn-* headers, not JSON', (i) => ({ headers: headerBlock([`Fn-Source-Seq: ${i}`, 'Fn-Function: other', `Fn-Payload-Object: dlq:other:S:${i}`, 'Fn-Payload-Size: 1']), payload: latin1('nope'), expect: NOT_JSON })],
    [0.08, 'near max_payload, not JSON', (i, r) => ({ payload: garbageOfSize(maxPayload - int(r, 2_000), i + 5), expect: NOT_JSON })],
  ]
}

/**
 * The maker of the seeded mix: call it for i = 0, 1, 2, ... in order. Messages are made as they
 * are published, so that the test process never blocks for long (its timers drive the steady
 * function, whose gaps are measured).
 */
function randomMix(seed: number, maxPayload: number): (i: number) => Case {
  const r = prng(seed)
  const kinds = mixKinds(maxPayload)
  const total = kinds.reduce((s, [w]) => s + w, 0)
  return (i) => {
    let x = r() * total
    const kind = kinds.find(([w]) => (x -= w) < 0) ?? kinds[0]!
    return { label: `mix #${i}: ${kind[1]}`, ...kind[2](i, r) }
  }
}

// ---------------------------------------------------------------------------------------------
// Publishing and reading back

/** Publishes `c` through the raw client; records it in the ledger once the server stored it. */
async function publish(c: Case, keepPayload: boolean): Promise<Published> {
  const ack = await raw.jsPublish(SUBJECT, c.payload, c.headers)
  expect(ack.stream, c.label).toBe(prefix)
  expect(ack.duplicate, `${c.label}: stored as a duplicate`).toBeUndefined()
  const p: Published = {
    seq: ack.seq,
    label: c.label,
    size: c.payload.length,
    headers: c.headers ?? Buffer.alloc(0),
    ...(keepPayload ? { payload: c.payload } : {}),
    expect: { [fn.json]: c.expect.json, [fn.binary]: c.expect.binary },
  }
  ledger.published.set(p.seq, p)
  return p
}

/** Publishes `make(0)` to `make(count - 1)`, made in that order, with at most {@link WINDOW} PubAcks outstanding. */
async function publishAll(count: number, make: (i: number) => Case, keepPayload: boolean): Promise<Published[]> {
  const out: Published[] = new Array(count)
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      out[i] = await publish(make(i), keepPayload)
    }
  }
  await Promise.all(Array.from({ length: Math.min(WINDOW, count) }, worker))
  return out
}

/** Waits until every function has an outcome for each of `seqs`; fails listing what is missing. */
async function waitForOutcomes(seqs: number[], timeoutMs: number, intervalMs = 200): Promise<void> {
  try {
    await expect
      .poll(() => ledger.missing(seqs).slice(0, 20), { timeout: timeoutMs, interval: intervalMs, message: 'messages with no output and no dead letter' })
      .toEqual([])
  } catch (err) {
    console.log(`replica warnings and errors about the missing messages:\n${replicaTrouble(new Set(seqs.filter((q) => ledger.missing([q]).length > 0))).join('\n')}`)
    throw err
  }
}

/**
 * What the replica logged at warn or above, other than the routine `message dead-lettered`:
 * about `seqs` when given (and anything without a seq), last few first, each line cut short.
 */
function replicaTrouble(seqs?: Set<number>): string[] {
  const lines = replica
    .records()
    .filter((r) => Number(r.level) >= 40 && r.msg !== 'message dead-lettered')
    .filter((r) => !seqs || typeof r.seq !== 'number' || seqs.has(r.seq))
    .map(({ time, pid, hostname, err, ...r }) => {
      const e = err as { type?: string; message?: string } | undefined
      return JSON.stringify({ ...r, ...(e ? { err: `${e.type}: ${e.message}` } : {}) }).slice(0, 600)
    })
  return [...new Set(lines)].slice(-12)
}

/** CPU time of the replica's main thread so far, ms (Linux: the thread whose id is the pid). */
async function mainThreadCpuMs(): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${replica.pid}/task/${replica.pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime (fields 14 and 15 of the file; 12 and 13 after the name), in ticks of 10 ms.
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    // No /proc (not Linux): the figure is left out, nothing is asserted on it.
    return undefined
  }
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

/**
 * The steady function's figures between `from` and `to` (default: its first output, now): the
 * largest gap between outputs, the window's edges counting as outputs (a replica that answers
 * nothing shows as one long gap), and the largest publish → output time, a message still without
 * an output counting until `to`.
 */
function steadyFigures(from = steady.arrived[0]?.at ?? Date.now(), to = Date.now()) {
  const arrived = steady.arrived.filter((a) => a.at >= from && a.at <= to).sort((a, b) => a.at - b.at)
  const times = [from, ...arrived.map((a) => a.at), to]
  let maxGapMs = 0
  for (let i = 1; i < times.length; i++) maxGapMs = Math.max(maxGapMs, times[i]! - times[i - 1]!)
  const answeredAt = new Map(steady.arrived.map((a) => [a.seq, a.at]))
  let maxLatencyMs = 0
  let worst = 0
  for (const [seq, sentAt] of steady.sent) {
    if (sentAt < from || sentAt > to) continue
    const latency = (answeredAt.get(seq) ?? to) - sentAt
    if (latency > maxLatencyMs) {
      maxLatencyMs = latency
      worst = seq
    }
  }
  return { outputs: arrived.length, maxGapMs, maxLatencyMs, worstSeq: worst }
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  // Watched from the very start: any appearance means the server dropped a message on its own.
  subs.push(
    t.nc.subscribe('$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.>', {
      callback: (err, m) => {
        advisories.push(err ? `subscription error: ${err.message}` : `${m.subject}: ${m.string()}`)
      },
    }),
  )
  subs.push(
    t.nc.subscribe(`${prefix}.out.steady`, {
      callback: (err, m) => {
        if (err) return void steady.publishErrors.push(`output subscription: ${err.message}`)
        // Runs on the client's socket reader: nothing here may throw (NATS-NOTES).
        try {
          steady.arrived.push({ seq: m.json<{ seq: number }>().seq, at: Date.now() })
        } catch (e) {
          steady.publishErrors.push(`steady output not JSON: ${(e as Error).message}`)
        }
      },
    }),
  )
  await t.nc.flush()

  const files: Record<string, string> = {}
  for (const name of ['hostile-json', 'hostile-binary', 'hostile-steady']) {
    files[`${name}.ts`] = (await readFile(`${FIXTURES}${name}.ts`, 'utf8')).replaceAll('__PREFIX__', prefix)
  }
  project = await t.project(prefix, files)
  const deployed = await runFn(project, ['deploy'], t.server.url)
  expect(deployed.code, `fn deploy: ${deployed.stderr}`).toBe(0)
  for (const name of Object.values(fn)) versions[name] = (await t.registry.get(name))!.version

  replica = spawnStart(project, t.server.url, 'hostile replica')
  await Promise.all(
    Object.values(fn).map((name) =>
      replica.waitFor((r) => r.msg === 'function version live' && r.fn === name, `${name} live`),
    ),
  )
  await vi.waitFor(() => t.jsm.streams.info('FN_DLQ'), { timeout: 15_000, interval: 100 })

  followers.push(
    await follow(t.js, prefix, [`${prefix}.out.json`, `${prefix}.out.binary`], (m: JsMsg) =>
      ledger.addOutput(m.subject.endsWith('.json') ? fn.json : fn.binary, m),
    ),
    await follow(t.js, 'FN_DLQ', Object.values(fn).map((name) => `fn.dlq.${name}`), (m) => ledger.addDeadLetter(m)),
  )

  raw = await RawNatsClient.connect(t.server.url)
  console.log(`hostile suite: seed ${SEED} (HOSTILE_SEED=${SEED} reproduces), max_payload ${raw.info.max_payload}, server ${raw.info.version}`)

  // Steady traffic for the rest of the file, through the test's own nats.js connection.
  let n = 0
  steady.timer = setInterval(() => {
    const i = n++
    const sentAt = Date.now()
    t.js.publish(`${prefix}.steady`, JSON.stringify({ i })).then(
      (ack) => void steady.sent.set(ack.seq, sentAt),
      (err: Error) => void steady.publishErrors.push(`steady #${i}: ${err.message}`),
    )
  }, STEADY_EVERY_MS)
  await vi.waitFor(() => {
    if (steady.arrived.length === 0) throw new Error('no output of the steady function yet')
  }, { timeout: 15_000, interval: 50 })
}, 60_000)

afterAll(async () => {
  clearInterval(steady.timer)
  await raw?.close().catch(() => undefined)
  for (const f of followers) await f.stop().catch(() => undefined)
  for (const s of subs) s.unsubscribe()
  await replica?.[Symbol.asyncDispose]()
})

describe(`hostile input (seed ${SEED})`, () => {
  it('each hostile case ends as one output or one dead letter per function; the rest keeps flowing', { timeout: 60_000 }, async () => {
    const cases = namedCases(raw.info.max_payload)
    const started = Date.now()

    // A header block near max_payload never reaches a stream: JetStream refuses header blocks over
    // 65,535 bytes (checked on 2.15.1), so it can only be refused here.
    const nearMax = sizedHeaderBlock(raw.info.max_payload - 64)
    const refused = await raw.jsPublish(SUBJECT, json({ case: 'header block near max_payload' }), nearMax).then(
      (ack) => ack,
      (err: unknown) => err,
    )
    expect(refused).toBeInstanceOf(RawPubAckError)
    expect((refused as Error).message).toMatch(/header size exceeds maximum allowed of 64k/)

    // One case at a time, each until both functions have settled it: what each costs the replica
    // (main-thread CPU, wall time, the steady function's slowest answer meanwhile) is its own. Once
    // one case gets no outcome in time, the rest go out together (a deaf replica answers none).
    const published: Published[] = []
    const costs: Array<{ label: string; wallMs: number; cpuMs?: number; steadyMaxLatencyMs: number }> = []
    let missing: unknown
    for (const c of cases) {
      const cpuBefore = await mainThreadCpuMs()
      const from = Date.now()
      const p = await publish(c, true)
      published.push(p)
      if (missing) continue
      missing = await waitForOutcomes([p.seq], 15_000, 10).then(() => undefined, (err: unknown) => err)
      const cpuAfter = await mainThreadCpuMs()
      costs.push({
        label: c.label,
        wallMs: Date.now() - from,
        ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuMs: cpuAfter - cpuBefore } : {}),
        steadyMaxLatencyMs: steadyFigures(from, Date.now()).maxLatencyMs,
      })
    }
    const seqs = published.map((p) => p.seq)
    // A case missing its outcome fails the test at the end, after every dead letter that did
    // arrive has been checked (soft assertions: all that is wrong shows at once).
    if (missing) await waitForOutcomes(seqs, 10_000).catch(() => undefined)
    const top = (key: 'wallMs' | 'cpuMs' | 'steadyMaxLatencyMs') =>
      [...costs].sort((a, b) => (b[key] ?? 0) - (a[key] ?? 0)).slice(0, 4).map((c) => `${c.label}: ${c[key]} ms`)
    console.log(
      `hostile cases, one at a time (${costs.length} measured): slowest to settle ${JSON.stringify(top('wallMs'))}; ` +
        `most replica main-thread CPU (10 ms ticks) ${JSON.stringify(top('cpuMs'))}; slowest steady answer meanwhile ${JSON.stringify(top('steadyMaxLatencyMs'))}`,
    )

    // What each dead letter says, as `fn dlq` and a user read it.
    for (const p of published) {
      for (const name of [fn.json, fn.binary]) {
        // Two outcomes for one seq are reported by the ledger check below; the first is read here.
        const d = ledger.deadLetters.get(name)!.get(p.seq)?.[0]
        if (!d) continue
        const what = `${p.label}, ${name}`
        expect.soft(d.subject, what).toBe(`fn.dlq.${name}`)
        expect.soft(
          {
            'Fn-Function': dlHeader(d, 'Fn-Function'),
            'Fn-Version': dlHeader(d, 'Fn-Version'),
            'Fn-Source-Stream': dlHeader(d, 'Fn-Source-Stream'),
            'Fn-Source-Seq': dlHeader(d, 'Fn-Source-Seq'),
            'Fn-Source-Subject': dlHeader(d, 'Fn-Source-Subject'),
            'Nats-Msg-Id': dlHeader(d, 'Nats-Msg-Id'),
          },
          what,
        ).toEqual({
          'Fn-Function': name,
          'Fn-Version': versions[name],
          'Fn-Source-Stream': prefix,
          'Fn-Source-Seq': String(p.seq),
          'Fn-Source-Subject': SUBJECT,
          'Nats-Msg-Id': `dlq:${name}:${prefix}:${p.seq}`,
        })
        expect.soft(Number(dlHeader(d, 'Fn-Deliveries')), `${what}: Fn-Deliveries`).toBeGreaterThanOrEqual(1)
        expect.soft(Number.isNaN(Date.parse(dlHeader(d, 'Fn-Failed-At') ?? '')), `${what}: Fn-Failed-At`).toBe(false)
        expect.soft(dlHeader(d, 'Fn-Error'), `${what}: Fn-Error`).toMatch(/\S/)

        // The original payload, in the message or (too big for one) in Object Store; `fn dlq
        // show` reads it back either way. A payload that fills max_payload must be claim-checked;
        // one under half of it must not be (between the two, the Fn-* headers decide).
        const object = dlHeader(d, 'Fn-Payload-Object')
        const mustClaim = p.size + p.headers.length > raw.info.max_payload - 128
        const mustInline = p.size < raw.info.max_payload / 2
        if (mustClaim) expect.soft(object, `${what}: a payload this big needs a claim check`).toBeDefined()
        if (mustInline) expect.soft(object, `${what}: a dead letter of ${p.size} payload bytes carries its payload itself, yet has Fn-Payload-Object`).toBeUndefined()
        if (object !== undefined && !mustInline) {
          expect.soft(dlHeader(d, 'Fn-Payload-Size'), `${what}: Fn-Payload-Size`).toBe(String(p.size))
          expect.soft(d.payload.length, `${what}: a claim-check dead letter has an empty payload`).toBe(0)
        } else if (object === undefined) {
          expect.soft(d.payload.length, `${what}: payload size`).toBe(p.size)
          expect.soft(sha(d.payload), `${what}: payload`).toBe(sha(p.payload!))
        }
        // Read back by `fn dlq show` in the last test, once the steady function has stopped: a
        // CLI process costs this 2-core machine a second of CPU, which is no replica's stall.
        if (object !== undefined || p.label.startsWith('spoofed')) readBack.push({ name, dlqSeq: d.dlqSeq, payload: p.payload!, what })

        if (p.expect[fn.binary] === DECODE_BOTH.binary) {
          // Headers the client cannot decode: the raw block is kept, and the error says why.
          const error = dlHeader(d, 'Fn-Error')!
          expect.soft(error, what).toMatch(/header/i)
          const lines = p.headers.toString('latin1').split('\r\n').length - 3
          if (lines > 1_000) expect.soft(error, `${what}: the error names the limit`).toMatch(/1,?000/)
          else await expectRawHeaders(d, p, what, true)
        } else {
          // A raw block kept for another reason (an original too big to copy) must be the one sent.
          await expectRawHeaders(d, p, what, false)
        }
        // The publisher's own Fn-* headers never stand in for the runtime's.
        if (p.label.startsWith('spoofed')) expect.soft(dlHeader(d, 'Fn-Error-Kind'), what).toBe('decode')
      }
    }

    if (missing) throw missing
    const problems = ledger.problems(seqs, false)
    expect(problems.slice(0, 30), `${problems.length} problems`).toEqual([])
    console.log(`hostile cases: ${cases.length} published and settled in ${Date.now() - started} ms; steady meanwhile: ${JSON.stringify(steadyFigures(started, Date.now()))}`)
  })

  it('header bombs cost the replica no stall: 50 messages of 10,000 headers, 50 of 1,000', { timeout: 60_000 }, async () => {
    // Each burst: main-thread CPU of the replica (/proc), wall time until both functions settled
    // all 50, and what the steady function saw meanwhile. Small good messages are the yardstick.
    const burst = async (label: string, headers: Buffer | undefined, expectation: Case['expect']) => {
      const cpuBefore = await mainThreadCpuMs()
      const from = Date.now()
      const published = await publishAll(
        50,
        (i) => ({ label: `${label} #${i}`, ...(headers ? { headers } : {}), payload: json({ burst: label, i }), expect: expectation }),
        false,
      )
      const seqs = published.map((p) => p.seq)
      await waitForOutcomes(seqs, 30_000)
      const wallMs = Date.now() - from
      const cpuAfter = await mainThreadCpuMs()
      expect(ledger.problems(seqs, false)).toEqual([])
      const steadyMeanwhile = steadyFigures(from, Date.now())
      const cpuMs = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore
      console.log(
        `burst of 50 × ${label} (${headers?.length ?? 0} header bytes each): both functions settled all in ${wallMs} ms; ` +
          `replica main thread CPU ${cpuMs ?? 'n/a'} ms (${cpuMs === undefined ? 'n/a' : (cpuMs / 50).toFixed(1)} ms per message, both functions, all costs included); ` +
          `steady meanwhile: max gap ${steadyMeanwhile.maxGapMs} ms, max latency ${steadyMeanwhile.maxLatencyMs} ms over ${steadyMeanwhile.outputs} outputs`,
      )
      expect(steadyMeanwhile.maxGapMs, `steady function: largest gap between outputs during ${label}`).toBeLessThanOrEqual(STALL_MS)
    }
    await burst('small good messages', undefined, OUTPUT)
    await burst('10,000 headers', tinyHeaders(10_000), DECODE_BOTH)
    await burst('1,000 headers', tinyHeaders(1_000), OUTPUT)
    await burst('header block of 65,535 bytes', sizedHeaderBlock(65_535), OUTPUT)
  })

  it(`a seeded random mix of ${MIX} good and bad messages (seed ${SEED}) all end accounted for`, { timeout: 90_000 }, async () => {
    const from = Date.now()
    const published = await publishAll(MIX, randomMix(SEED, raw.info.max_payload), false)
    const publishedMs = Date.now() - from
    await waitForOutcomes(published.map((p) => p.seq), 60_000)
    console.log(
      `random mix (seed ${SEED}): ${MIX} published in ${publishedMs} ms, all accounted for after ${Date.now() - from} ms: ${JSON.stringify(ledger.totals(published.map((p) => p.seq)))}`,
    )
    const problems = ledger.problems(published.map((p) => p.seq), false)
    expect(problems.slice(0, 30), `${problems.length} problems`).toEqual([])
  })

  it('ledger: every published seq has exactly one outcome per function, nothing pending, nothing dropped, no stall', { timeout: 60_000 }, async () => {
    clearInterval(steady.timer)
    const stoppedAt = Date.now()
    // Waits first, asserts after the ledger is printed: a failing run still shows its figures.
    const waits: string[] = []
    const settle = async (what: string, check: () => Promise<unknown> | unknown, timeout: number) => {
      await vi.waitFor(check, { timeout, interval: 200 }).catch((err: Error) => void waits.push(`${what}: ${err.message}`))
    }
    await settle('every steady message answered', () => {
      const answered = new Set(steady.arrived.map((a) => a.seq))
      const unanswered = [...steady.sent.keys()].filter((q) => !answered.has(q))
      if (unanswered.length > 0) throw new Error(`${unanswered.length} of ${steady.sent.size} steady messages have no output (first: seq ${unanswered[0]})`)
    }, 10_000)
    const consumers: Record<string, unknown> = {}
    for (const name of Object.values(fn)) {
      await settle(`consumer fn_${name}`, async () => {
        const info = await t.jsm.consumers.info(prefix, `fn_${name}`)
        const state = { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered, maxDeliver: info.config.max_deliver }
        consumers[name] = state
        if (state.pending !== 0 || state.ackPending !== 0) throw new Error(`not settled: ${JSON.stringify(state)}`)
      }, 15_000)
    }

    // Outcomes stored after the waits above would show up here as a second outcome.
    const problems = ledger.problems()
    const totals = ledger.totals()
    const figures = steadyFigures(undefined, stoppedAt)
    console.log(
      `hostile ledger (seed ${SEED}): ${JSON.stringify({ ...totals, steady: { published: steady.sent.size, ...figures }, consumers, advisories: advisories.length, problems: problems.length })}`,
    )
    if (problems.length > 0 || waits.length > 0) console.log(`replica warnings and errors:\n${replicaTrouble().join('\n')}`)

    expect(waits).toEqual([])
    expect(problems.slice(0, 50), `${problems.length} ledger problems`).toEqual([])
    expect(Object.values(fn).map((name) => (consumers[name] as { maxDeliver?: number })?.maxDeliver), 'server-side max_deliver of each consumer').toEqual([-1, -1, -1])
    expect(advisories, 'MAX_DELIVERIES advisories: the server dropped a message').toEqual([])
    expect(steady.publishErrors).toEqual([])
    expect(figures.maxGapMs, 'steady function: largest gap between outputs').toBeLessThanOrEqual(STALL_MS)
    expect(figures.maxLatencyMs, `steady function: largest publish → output time (seq ${figures.worstSeq})`).toBeLessThanOrEqual(STALL_MS)
  })

  it('fn dlq show reads back the claim-checked and spoofed dead letters of the hostile cases', { timeout: 60_000 }, async () => {
    expect(readBack.length, 'dead letters to read back').toBeGreaterThan(0)
    for (const r of readBack) {
      const shown = await runFn(project, ['dlq', 'show', r.name, String(r.dlqSeq), '--json'], t.server.url)
      expect.soft(shown.code, `${r.what}: fn dlq show ${r.name} ${r.dlqSeq}: ${shown.stderr}`).toBe(0)
      if (shown.code !== 0) continue
      const detail = JSON.parse(shown.stdout) as DeadLetterDetailJson
      expect.soft(detail.size, `${r.what}: size shown by fn dlq show`).toBe(r.payload.length)
      expect.soft(sha(Buffer.from(detail.payloadBase64, 'base64')), `${r.what}: payload read back by fn dlq show`).toBe(sha(r.payload))
    }
  })
})

/**
 * The raw header block of `p`, kept by dead letter `d` in a header or (over 8 KiB) in Object
 * Store: exactly as sent when there, and there when `required`.
 */
async function expectRawHeaders(d: DeadLetter, p: Published, what: string, required: boolean): Promise<void> {
  const inline = dlHeader(d, 'Fn-Raw-Headers')
  const object = dlHeader(d, 'Fn-Raw-Headers-Object')
  if (required) expect.soft(inline !== undefined || object !== undefined, `${what}: Fn-Raw-Headers or Fn-Raw-Headers-Object`).toBe(true)
  if (inline !== undefined) {
    expect.soft(Buffer.from(inline, 'base64').toString('latin1'), `${what}: Fn-Raw-Headers`).toBe(p.headers.toString('latin1'))
    return
  }
  if (object === undefined) return
  expect.soft(p.headers.length, `${what}: a raw block of ${p.headers.length} bytes kept as an object`).toBeGreaterThan(8 * 1024)
  const os = await new Objm(t.nc).open('FN_DLQ_PAYLOADS')
  const blob = await os.getBlob(object!)
  expect.soft(blob, `${what}: object ${object} in FN_DLQ_PAYLOADS`).not.toBeNull()
  if (blob) expect.soft(Buffer.from(blob).toString('latin1'), `${what}: raw headers object`).toBe(p.headers.toString('latin1'))
}
