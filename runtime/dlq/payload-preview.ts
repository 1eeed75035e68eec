/**
 * How `fn dlq show` prints a payload: pretty JSON when it is JSON, the text when it is readable
 * UTF-8, and a hex dump of its first bytes otherwise.
 */

/** A payload made readable. */
export interface PayloadPreview {
  kind: 'empty' | 'json' | 'text' | 'binary'
  /** Lines to print (no trailing newline). */
  text: string
  /** JSON payloads only: the parsed value. */
  json?: unknown
}

/** Options of {@link previewPayload}. */
export interface PreviewOptions {
  /** Bytes shown in a hex dump of a binary payload. Default 512. */
  maxBinaryBytes?: number
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
// Control characters other than tab, line feed and carriage return mark a payload as binary.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/

export function previewPayload(data: Uint8Array, opts: PreviewOptions = {}): PayloadPreview {
  if (data.length === 0) return { kind: 'empty', text: '(empty)' }
  let text: string | undefined
  try {
    text = utf8.decode(data)
  } catch {
    // Not UTF-8: shown as bytes below.
  }
  if (text !== undefined && !CONTROL.test(text)) {
    try {
      const json: unknown = JSON.parse(text)
      return { kind: 'json', text: JSON.stringify(json, null, 2), json }
    } catch {
      // Not JSON: shown as the text it is.
      return { kind: 'text', text }
    }
  }
  return { kind: 'binary', text: hexDump(data, opts.maxBinaryBytes ?? 512) }
}

/** `xxd`-style lines: offset, 16 bytes in hex, and the printable ASCII among them. */
export function hexDump(data: Uint8Array, maxBytes: number): string {
  const shown = data.subarray(0, maxBytes)
  const lines: string[] = []
  for (let off = 0; off < shown.length; off += 16) {
    const row = shown.subarray(off, off + 16)
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'))
    const groups = [hex.slice(0, 8).join(' '), hex.slice(8).join(' ')].join('  ')
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('')
    lines.push(`${off.toString(16).padStart(8, '0')}  ${groups.padEnd(48)}  |${ascii}|`)
  }
  if (data.length > shown.length) lines.push(`… ${data.length - shown.length} more bytes`)
  return lines.join('\n')
}
