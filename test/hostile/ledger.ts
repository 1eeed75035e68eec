/**
 * The ledger of the hostile-input suite: what was published (stream sequence, case, expected
 * outcome per function), what came out (outputs the functions published, dead letters in the
 * DLQ), and the reconciliation of the two: every published sequence, for every function, ends in
 * exactly one output or exactly one dead letter, of the expected kind.
 *
 * Outputs and dead letters are read as they are stored, by ordered consumers running for the
 * whole suite; headers are read inside a try/catch, so that a dead letter carrying headers the
 * client cannot decode is reported as such instead of deafening the test's own connection.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream'

/** The error kinds a dead letter may carry (DESIGN, Settling a message). */
export const ERROR_KINDS = ['error', 'timeout', 'crash', 'schema', 'decode', 'non-retryable', 'max-deliver'] as const

/**
 * What one function must do with one message: produce an output; dead-letter it with this kind;
 * either of an output and a `decode` dead letter (an input the contract leaves to the runtime);
 * or either of an output and a dead letter of any kind (deep JSON, huge numbers: handled or
 * dead-lettered with a clear kind, never lost).
 */
export type Expectation = 'output' | { dead: (typeof ERROR_KINDS)[number] } | 'output-or-decode' | 'output-or-dead'

/** One message the suite published and the server stored. */
export interface Published {
  seq: number
  /** The case that made it (`header-name-space`, `mix:invalid-json`, ...). */
  label: string
  /** Payload bytes. */
  size: number
  /** The raw header block sent (empty when none). */
  headers: Buffer
  /** The payload sent; kept only where a test compares it (named cases). */
  payload?: Buffer
  /** By function name. */
  expect: Record<string, Expectation>
}

/** One output a function published (its JSON, plus where it was stored). */
export interface Output {
  fn: string
  seq: number
  deliveries: number
  bytes: number
  headerNames: number
  polluted?: boolean
  /** Sequence of the output in the test stream. */
  storedSeq: number
}

/** One dead letter as stored in the DLQ. */
export interface DeadLetter {
  /** Sequence in the DLQ stream (what `fn dlq show` takes). */
  dlqSeq: number
  subject: string
  /** Every header, or why they could not be read. */
  headers: Record<string, string[]> | { unreadable: string }
  payload: Buffer
}

/** The first value of a dead letter's header, exact case. */
export function dlHeader(d: DeadLetter, name: string): string | undefined {
  if ('unreadable' in d.headers) return undefined
  return (d.headers as Record<string, string[]>)[name]?.[0]
}

/** Reads a stored message's headers without ever throwing. */
export function headersOf(m: JsMsg): Record<string, string[]> | { unreadable: string } {
  try {
    const h = m.headers
    const out: Record<string, string[]> = {}
    if (h) for (const k of h.keys()) out[k] = h.values(k)
    return out
  } catch (err) {
    return { unreadable: (err as Error).message }
  }
}

/**
 * Reads every message of `filterSubjects` in `stream`, from the first, and goes on reading what
 * comes after, until `stop()`. Each message goes to `onMsg` in stream order.
 */
export async function follow(
  js: JetStreamClient,
  stream: string,
  filterSubjects: string[],
  onMsg: (m: JsMsg) => void,
): Promise<{ stop(): Promise<void> }> {
  const consumer = await js.consumers.get(stream, { filter_subjects: filterSubjects })
  const messages = await consumer.consume()
  const loop = (async () => {
    for await (const m of messages) onMsg(m)
  })()
  return {
    async stop() {
      await messages.close()
      await loop
    },
  }
}

/** Outputs and dead letters seen so far, by function and source sequence. */
export class Ledger {
  readonly published = new Map<number, Published>()
  readonly outputs = new Map<string, Map<number, Output[]>>()
  readonly deadLetters = new Map<string, Map<number, DeadLetter[]>>()
  /** Outputs and dead letters that could not be attributed (bad JSON, headers missing or unreadable). */
  readonly strays: string[] = []

  constructor(readonly functions: string[]) {
    for (const fn of functions) {
      this.outputs.set(fn, new Map())
      this.deadLetters.set(fn, new Map())
    }
  }

  /** An output message of function `fn` (stored at `storedSeq`). */
  addOutput(fn: string, m: JsMsg): void {
    let o: { seq?: unknown; deliveries?: unknown; bytes?: unknown; headerNames?: unknown; polluted?: unknown }
    try {
      o = m.json()
    } catch (err) {
      this.strays.push(`output ${m.seq} of ${fn} is not JSON: ${(err as Error).message}`)
      return
    }
    if (typeof o.seq !== 'number') {
      this.strays.push(`output ${m.seq} of ${fn} has no seq: ${m.string().slice(0, 200)}`)
      return
    }
    const out: Output = {
      fn,
      seq: o.seq,
      deliveries: Number(o.deliveries),
      bytes: Number(o.bytes),
      headerNames: Number(o.headerNames),
      ...(typeof o.polluted === 'boolean' ? { polluted: o.polluted } : {}),
      storedSeq: m.seq,
    }
    push(this.outputs.get(fn)!, o.seq, out)
  }

  /** A message of the DLQ stream. */
  addDeadLetter(m: JsMsg): void {
    const d: DeadLetter = { dlqSeq: m.seq, subject: m.subject, headers: headersOf(m), payload: Buffer.from(m.data) }
    if ('unreadable' in d.headers) {
      this.strays.push(`dead letter ${m.seq} on ${m.subject}: headers unreadable by the client (${d.headers.unreadable})`)
      return
    }
    const fn = dlHeader(d, 'Fn-Function')
    const seq = Number(dlHeader(d, 'Fn-Source-Seq'))
    if (!fn || !this.deadLetters.has(fn) || !Number.isSafeInteger(seq)) {
      this.strays.push(`dead letter ${m.seq} on ${m.subject}: Fn-Function ${fn}, Fn-Source-Seq ${dlHeader(d, 'Fn-Source-Seq')}`)
      return
    }
    if (m.subject !== `fn.dlq.${fn}`) this.strays.push(`dead letter ${m.seq} of ${fn} is on ${m.subject}`)
    push(this.deadLetters.get(fn)!, seq, d)
  }

  /** True once every function has at least one output or dead letter for every seq in `seqs`. */
  accountedFor(seqs: Iterable<number>): boolean {
    for (const seq of seqs) {
      for (const fn of this.functions) {
        if (!this.outputs.get(fn)!.has(seq) && !this.deadLetters.get(fn)!.has(seq)) return false
      }
    }
    return true
  }

  /** Seqs of `seqs` some function has nothing for yet, with the case that made each. */
  missing(seqs: Iterable<number>): string[] {
    const out: string[] = []
    for (const seq of seqs) {
      const fns = this.functions.filter((fn) => !this.outputs.get(fn)!.has(seq) && !this.deadLetters.get(fn)!.has(seq))
      if (fns.length > 0) out.push(`seq ${seq} (${this.published.get(seq)?.label ?? 'not published'}): nothing from ${fns.join(', ')}`)
    }
    return out
  }

  /**
   * Every problem with the messages of `seqs` (all published ones by default), one line each:
   * nothing, two outcomes, the wrong outcome, an output that saw other bytes than were sent, a
   * polluted prototype. With `whole`, also outcomes for seqs never published and strays.
   */
  problems(seqs: Iterable<number> = this.published.keys(), whole = true): string[] {
    const out: string[] = []
    for (const seq of seqs) {
      const p = this.published.get(seq)
      if (!p) {
        out.push(`seq ${seq}: not published by the suite`)
        continue
      }
      for (const fn of this.functions) {
        const outs = this.outputs.get(fn)!.get(seq) ?? []
        const dls = this.deadLetters.get(fn)!.get(seq) ?? []
        const what = `seq ${seq} (${p.label}), ${fn}`
        const seen = describe(outs, dls)
        if (outs.length + dls.length !== 1) {
          out.push(`${what}: expected exactly one output or dead letter, saw ${seen}`)
          continue
        }
        const e = p.expect[fn]!
        const o = outs[0]
        const d = dls[0]
        if (o) {
          if (typeof e === 'object') out.push(`${what}: expected a ${e.dead} dead letter, saw ${seen}`)
          else if (o.bytes !== p.size) out.push(`${what}: the handler saw ${o.bytes} payload bytes, ${p.size} were published`)
          else if (o.polluted) out.push(`${what}: Object.prototype was polluted in the worker`)
          continue
        }
        const kind = dlHeader(d!, 'Fn-Error-Kind') ?? '(none)'
        const ok =
          e === 'output-or-dead'
            ? (ERROR_KINDS as readonly string[]).includes(kind)
            : e === 'output-or-decode'
              ? kind === 'decode'
              : typeof e === 'object' && kind === e.dead
        if (!ok) out.push(`${what}: expected ${typeof e === 'object' ? `a ${e.dead} dead letter` : e}, saw ${seen}`)
        // The original payload is kept: in the dead letter, or named by its claim check.
        const object = dlHeader(d!, 'Fn-Payload-Object')
        if (object === undefined && d!.payload.length !== p.size) {
          out.push(`${what}: dead letter ${d!.dlqSeq} holds ${d!.payload.length} payload bytes, ${p.size} were published`)
        }
        if (object !== undefined && (d!.payload.length !== 0 || dlHeader(d!, 'Fn-Payload-Size') !== String(p.size))) {
          out.push(`${what}: dead letter ${d!.dlqSeq} names object ${object} (Fn-Payload-Size ${dlHeader(d!, 'Fn-Payload-Size')}) but holds ${d!.payload.length} payload bytes; ${p.size} were published`)
        }
      }
    }
    if (whole) {
      for (const fn of this.functions) {
        for (const seq of this.outputs.get(fn)!.keys()) if (!this.published.has(seq)) out.push(`${fn}: output for seq ${seq}, never published`)
        for (const seq of this.deadLetters.get(fn)!.keys()) if (!this.published.has(seq)) out.push(`${fn}: dead letter for seq ${seq}, never published`)
      }
      out.push(...this.strays)
    }
    return out
  }

  /** Published, outputs and dead letters (by kind) per function, of `seqs` (default: all), for the closing note. */
  totals(seqs?: Iterable<number>): { published: number; functions: Record<string, { outputs: number; deadLetters: Record<string, number> }> } {
    const only = seqs ? new Set(seqs) : undefined
    const functions: Record<string, { outputs: number; deadLetters: Record<string, number> }> = {}
    for (const fn of this.functions) {
      let outputs = 0
      for (const [seq, list] of this.outputs.get(fn)!) if (!only || only.has(seq)) outputs += list.length
      const deadLetters: Record<string, number> = {}
      for (const [seq, list] of this.deadLetters.get(fn)!) {
        if (only && !only.has(seq)) continue
        for (const d of list) {
          const kind = dlHeader(d, 'Fn-Error-Kind') ?? '(none)'
          deadLetters[kind] = (deadLetters[kind] ?? 0) + 1
        }
      }
      functions[fn] = { outputs, deadLetters }
    }
    return { published: only ? only.size : this.published.size, functions }
  }
}

function push<T>(map: Map<number, T[]>, key: number, value: T): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}

function describe(outs: Output[], dls: DeadLetter[]): string {
  const parts = [
    ...outs.map((o) => `output (stored ${o.storedSeq}, delivery ${o.deliveries})`),
    ...dls.map((d) => `dead letter ${d.dlqSeq} (${dlHeader(d, 'Fn-Error-Kind')}: ${(dlHeader(d, 'Fn-Error') ?? '').slice(0, 160)})`),
  ]
  return parts.length === 0 ? 'nothing' : parts.join(' and ')
}
