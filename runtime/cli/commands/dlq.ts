/**
 * `fn dlq ls|show|replay|purge <function>`: inspects and redrives a function's dead letters.
 * Checks which flags each sub-command takes, then calls {@link DeadLetters}.
 */
import { once } from 'node:events'
import { jetstream } from '@nats-io/jetstream'
import { DeadLetters, type DeadLetterSelection } from '../../dlq/dead-letters.ts'
import { DeadLetterPayloads } from '../../dlq/dead-letter-payloads.ts'
import { deadLetterDetail, deadLetterSummary } from '../../dlq/dead-letter-json.ts'
import { DeadLetterTable } from '../../dlq/dead-letter-table.ts'
import { headerRecord } from '../../dlq/dead-letter-entry.ts'
import { previewPayload } from '../../dlq/payload-preview.ts'
import { FnError, FnErrorCode } from '../../errors/fn-error.ts'
import type { ParsedArgs } from '../parse-args.ts'
import { withRegistry } from './registry-command.ts'

type Sub = 'ls' | 'show' | 'replay' | 'purge'

const USAGE: Record<Sub, string> = {
  ls: 'fn dlq ls <function> [--json]',
  show: 'fn dlq show <function> <seq> [--json]',
  replay: 'fn dlq replay <function> (--seq N ... | --all) [--dry-run]',
  purge: 'fn dlq purge <function> [--seq N ...] [--dry-run]',
}

// The flags each sub-command takes, beyond `--seq` (checked per sub-command below).
const FLAGS: Record<Sub, Array<'json' | 'all' | 'dryRun'>> = {
  ls: ['json'],
  show: ['json'],
  replay: ['all', 'dryRun'],
  purge: ['all', 'dryRun'],
}

const FLAG_NAMES = { json: '--json', all: '--all', dryRun: '--dry-run' } as const

/** `fn dlq ls|show|replay|purge <fn> ...`: returns the exit code. */
export async function runDlq(args: ParsedArgs): Promise<number> {
  const sub = args.positionals[0] as Sub
  const fn = args.positionals[1]!
  const seqs = selectedSeqs(sub, args)
  const o = args.options
  for (const flag of ['json', 'all', 'dryRun'] as const) {
    if (o[flag] && !FLAGS[sub].includes(flag)) usageError(sub, `'${FLAG_NAMES[flag]}' is not taken by 'fn dlq ${sub}'`)
  }
  if (o.all && seqs.length > 0) usageError(sub, `give either --seq or --all, not both`)
  if (sub === 'ls' && seqs.length > 0) usageError(sub, `'fn dlq ls' takes no seq`)
  if (sub === 'show' && seqs.length !== 1) usageError(sub, seqs.length === 0 ? 'missing <seq>' : `'fn dlq show' takes one seq (got ${seqs.length})`)
  if (sub === 'replay' && !o.all && seqs.length === 0) usageError(sub, `say which dead letters to replay: --seq N (repeatable) or --all`)
  const selection: DeadLetterSelection = seqs.length > 0 ? { seqs } : { all: true }

  return withRegistry(args.config, { role: sub === 'ls' || sub === 'show' ? 'viewer' : 'deployer' }, async ({ config, jsm, nc, registry }) => {
    const dlq = await DeadLetters.open({ jsm, js: jetstream(nc), payloads: new DeadLetterPayloads(nc), registry, dlqStream: config.dlq.stream, fn })
    switch (sub) {
      case 'ls':
        return o.json ? listJson(dlq) : listTable(dlq)
      case 'show':
        return show(dlq, seqs[0]!, o.json ?? false)
      case 'replay':
        return replay(dlq, selection, o.dryRun ?? false)
      case 'purge':
        return purge(dlq, selection, o.dryRun ?? false)
    }
  })
}

/** `--seq N ...` and the positional `<seq>` (which `fn dlq replay/purge <fn> N` also accept). */
function selectedSeqs(sub: Sub, args: ParsedArgs): number[] {
  const seqs = [...(args.options.seq ?? [])]
  const positional = args.positionals[2]
  if (positional !== undefined) {
    const n = Number(positional)
    if (!/^\d+$/.test(positional) || !Number.isSafeInteger(n) || n < 1) usageError(sub, `<seq> must be a positive whole number (got '${positional}')`)
    seqs.push(n)
  }
  return seqs
}

function usageError(sub: Sub, message: string): never {
  throw new FnError(FnErrorCode.UsageInvalid, message, { hint: `usage: ${USAGE[sub]}` })
}

async function listTable(dlq: DeadLetters): Promise<number> {
  const maxSeq = await dlq.lastSeq()
  if (maxSeq === undefined) {
    await write(`no dead letters for '${dlq.fn}' in ${dlq.stream}`)
    return 0
  }
  const columns = Number(process.env.COLUMNS) || process.stdout.columns || 120
  const table = new DeadLetterTable({ maxSeq, columns })
  await write(table.header())
  let n = 0
  for await (const e of dlq.list()) {
    await write(table.row(e))
    n++
  }
  await write(`${n} dead letter${n === 1 ? '' : 's'}; \`fn dlq show ${dlq.fn} <seq>\` for one in full`)
  return 0
}

async function listJson(dlq: DeadLetters): Promise<number> {
  // Written row by row so that a large DLQ never sits in memory whole.
  let first = true
  await writeRaw('[')
  for await (const e of dlq.list()) {
    await writeRaw(`${first ? '' : ',\n'}${JSON.stringify(deadLetterSummary(e))}`)
    first = false
  }
  await writeRaw(']\n')
  return 0
}

async function show(dlq: DeadLetters, seq: number, json: boolean): Promise<number> {
  const e = await dlq.show(seq)
  if (json) {
    await write(JSON.stringify(deadLetterDetail(e), null, 2))
    return 0
  }
  const preview = previewPayload(e.data)
  const lines = [`dead letter ${e.seq} of '${dlq.fn}' in ${dlq.stream} (${e.subject}), stored ${e.storedAt.toISOString()}`, '', 'headers:']
  for (const [key, values] of Object.entries(headerRecord(e.headers))) for (const v of values) lines.push(`  ${key}: ${v}`)
  if (e.rawHeaders) lines.push('', `original header block, not kept as headers (undecodable or too big; ${e.rawHeaders.length} bytes):`, escapeBytes(e.rawHeaders))
  const kept = e.payloadObject ? `, kept in Object Store as '${e.payloadObject}'` : ''
  lines.push('', `payload (${preview.kind}, ${e.size} bytes${kept}):`, preview.text)
  await write(lines.join('\n'))
  return 0
}

async function replay(dlq: DeadLetters, selection: DeadLetterSelection, dryRun: boolean): Promise<number> {
  if (!dlq.manifest) await write(`note: '${dlq.fn}' is not deployed: replayed messages wait in their stream until it is`)
  let n = 0
  for await (const r of dlq.replay(selection, { dryRun })) {
    n++
    if (!r.stored) {
      await write(`would replay  dlq seq ${r.dlqSeq} -> ${r.subject}  (${r.size} bytes)`)
    } else {
      const dup = r.stored.duplicate ? '  (already stored by an earlier replay)' : ''
      await write(`replayed  dlq seq ${r.dlqSeq} -> ${r.stored.stream} seq ${r.stored.seq}  (${r.subject})${dup}`)
    }
  }
  const plural = n === 1 ? '' : 's'
  await write(dryRun ? `dry run: ${n} dead letter${plural} would be replayed; nothing changed` : `${n} dead letter${plural} replayed`)
  return 0
}

async function purge(dlq: DeadLetters, selection: DeadLetterSelection, dryRun: boolean): Promise<number> {
  const n = await dlq.purge(selection, { dryRun })
  const what = `${n} dead letter${n === 1 ? '' : 's'} of '${dlq.fn}'`
  await write(dryRun ? `dry run: ${what} would be removed; nothing changed` : `removed ${what}`)
  return 0
}

/** Bytes as printable text: CR LF ends a line, anything else outside printable ASCII is `\xNN`. */
function escapeBytes(b: Uint8Array): string {
  const MAX = 4096
  let out = ''
  for (let i = 0; i < Math.min(b.length, MAX); i++) {
    const c = b[i]!
    if (c === 13 && b[i + 1] === 10) {
      out += '\n'
      i++
    } else out += c >= 32 && c < 127 ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`
  }
  return b.length > MAX ? `${out}… (${b.length - MAX} more bytes)` : out
}

/** Writes a line to stdout, waiting when the pipe is full (a long `ls` into `less`). */
function write(line: string): Promise<void> {
  return writeRaw(`${line}\n`)
}

async function writeRaw(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain')
}
