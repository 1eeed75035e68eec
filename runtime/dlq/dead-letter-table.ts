/**
 * The table `fn dlq ls` prints, one row per dead letter as it is read: columns of fixed width, so
 * rows can be printed before the last one is known, and the error cut to fit the terminal.
 */
import type { DeadLetterEntry } from './dead-letter-entry.ts'

/** Options of {@link DeadLetterTable}. */
export interface DeadLetterTableOptions {
  /** The highest seq that may be printed: sets the width of the SEQ column. */
  maxSeq: number
  /** Line width to fit. Default 120. */
  columns?: number
}

const KIND_WIDTH = 'non-retryable'.length
const TIME_WIDTH = '2024-01-01 00:00:00Z'.length
const DELIVERIES = 'DELIVERIES'
const MIN_ERROR_WIDTH = 20
const GAP = '  '

export class DeadLetterTable {
  readonly #seqWidth: number
  readonly #errorWidth: number

  constructor(opts: DeadLetterTableOptions) {
    this.#seqWidth = Math.max('SEQ'.length, String(opts.maxSeq).length)
    const fixed = this.#seqWidth + TIME_WIDTH + KIND_WIDTH + DELIVERIES.length + GAP.length * 4
    this.#errorWidth = Math.max(MIN_ERROR_WIDTH, (opts.columns ?? 120) - fixed)
  }

  header(): string {
    return this.#line('SEQ', 'FAILED AT', 'KIND', DELIVERIES, 'ERROR')
  }

  row(e: DeadLetterEntry): string {
    const failedAt = e.failedAt.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z')
    return this.#line(String(e.seq), failedAt, e.errorKind ?? '-', e.deliveries === undefined ? '-' : String(e.deliveries), truncate(e.error ?? '-', this.#errorWidth))
  }

  #line(seq: string, time: string, kind: string, deliveries: string, error: string): string {
    return [seq.padStart(this.#seqWidth), time.padEnd(TIME_WIDTH), kind.padEnd(KIND_WIDTH), deliveries.padStart(DELIVERIES.length), error].join(GAP).trimEnd()
  }
}

/** `s` cut to `width` characters, ending in `…` when cut. */
export function truncate(s: string, width: number): string {
  const chars = [...s]
  return chars.length <= width ? s : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`
}
