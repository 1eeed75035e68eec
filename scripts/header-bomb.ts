/**
 * Main-thread cost of reading hostile header blocks, as a replica reads them (`decodeHeaderBlock`,
 * then building the dead letter's headers from what was read), against nats.js's own decoder.
 * Prints the median of 21 runs per case, ms.
 *
 *   npx tsx scripts/header-bomb.ts
 */
import { MsgHdrsImpl } from '@nats-io/nats-core/internal'
import { decodeHeaderBlock } from '../runtime/consumer/read-headers.ts'
import { deadLetterHeaders } from '../runtime/settle/dead-letter.ts'

const enc = new TextEncoder()
function block(n: number, value = 'v'): Uint8Array {
  let s = 'NATS/1.0\r\n'
  for (let i = 0; i < n; i++) s += `X-H-${i}: ${value}\r\n`
  return enc.encode(`${s}\r\n`)
}

const cases: Array<[string, Uint8Array]> = [
  ['10 headers', block(10)],
  ['1,000 headers (the most read)', block(1_000)],
  ['1,000 headers, 64 KiB block', block(1_000, 'x'.repeat(50))],
  ['10,000 headers (refused unread)', block(10_000)],
  ['10,000 one-letter headers under 64 KiB (refused by count)', enc.encode(`NATS/1.0\r\n${'a:1\r\n'.repeat(10_000)}\r\n`)],
  ['one header of 1 MiB (refused unread)', enc.encode(`NATS/1.0\r\nX-Big: ${'x'.repeat(1024 * 1024 - 64)}\r\n\r\n`)],
]

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!
}

function time(fn: () => void): number {
  const runs: number[] = []
  for (let i = 0; i < 21; i++) {
    const t = performance.now()
    fn()
    runs.push(performance.now() - t)
  }
  return median(runs)
}

console.log('case | bytes | jetfn read + dead-letter headers, ms | nats.js decode + walk, ms')
for (const [name, raw] of cases) {
  const ours = time(() => {
    const read = decodeHeaderBlock(raw)
    if (read.ok) deadLetterHeaders({ fn: 'f', version: 'v', errorKind: 'error', error: { name: 'E', message: 'm' }, deliveries: 1, stream: 'S', seq: 1, subject: 's', failedAt: new Date(), original: read.headers })
  })
  const theirs = raw.length > 300_000 ? NaN : time(() => {
    const h = MsgHdrsImpl.decode(raw)
    for (const k of h.keys()) h.values(k)
  })
  console.log(`${name} | ${raw.length} | ${ours.toFixed(3)} | ${Number.isNaN(theirs) ? '-' : theirs.toFixed(3)}`)
}
