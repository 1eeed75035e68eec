/**
 * Reads a delivered message's headers where a failure can only be that message's outcome.
 *
 * nats.js decodes headers lazily, on the first read of `msg.headers`, and throws for a name it
 * cannot accept (a space, a control byte, a non-ASCII byte). That read happens on the client's
 * socket reader, and a throw there closes the reader: the whole connection goes deaf
 * (NATS-NOTES, failure behaviour). Its decoder is also quadratic in the number of headers (each
 * append searches every name already seen): 10,000 headers cost ~2.5 s of main thread to decode
 * and as much again to walk. So headers are read here instead, from the raw header block, in one
 * linear pass with limits, into the plain pairs the worker protocol carries anyway.
 */
import { Buffer } from 'node:buffer'
import type { Msg } from '@nats-io/transport-node'
import type { WireHeaders } from '../pool/protocol.ts'

/** Largest header block read, bytes; a larger one is dead-lettered unread. */
export const MAX_HEADER_BYTES = 64 * 1024
/** Most header lines read; a message with more is dead-lettered unread. */
export const MAX_HEADER_LINES = 1_000

/** The headers of one message, or why they cannot be read and their raw bytes. */
export type HeaderRead =
  | { ok: true; headers: WireHeaders }
  | { ok: false; reason: string; raw: Uint8Array }

/** What nats.js keeps of a parsed message: the header length and the bytes of header + payload. */
interface MsgInternals {
  _msg?: { hdr?: number }
  _rdata?: Uint8Array
}

const CRLF = Buffer.from('\r\n')
/** Most messages have no headers: no allocation for them. */
const EMPTY = new Uint8Array(0)
const NONE: HeaderRead = { ok: true, headers: null }
const latin1 = new TextDecoder('latin1')
const utf8 = new TextDecoder('utf-8')

/** The raw header block of `msg` (empty when it has none), without decoding it. */
export function rawHeaderBlock(msg: Msg): Uint8Array | undefined {
  const m = msg as unknown as MsgInternals
  const hdr = m._msg?.hdr
  if (typeof hdr !== 'number' || !(m._rdata instanceof Uint8Array)) return undefined
  return hdr > 0 ? m._rdata.subarray(0, hdr) : EMPTY
}

/**
 * Reads `msg`'s headers. Never throws. Without access to the raw block (a client version that
 * keeps it elsewhere), falls back to nats.js's own decoder inside a try/catch.
 */
export function readHeaders(msg: Msg): HeaderRead {
  const raw = rawHeaderBlock(msg)
  if (raw === undefined) return readThroughClient(msg)
  if (raw.length === 0) return NONE
  return decodeHeaderBlock(raw)
}

/**
 * Decodes a raw header block (`NATS/1.0\r\n` then `Name: value\r\n` lines, then a blank line).
 * Values of one name keep their order; names keep the case they were sent in, as nats.js does.
 * A name must be printable ASCII without `:` (RFC 822, as nats.js and the Go client require);
 * a value may not hold a lone CR or LF.
 */
export function decodeHeaderBlock(raw: Uint8Array): HeaderRead {
  if (raw.length > MAX_HEADER_BYTES) {
    return { ok: false, reason: `header block of ${raw.length} bytes is over the limit of ${MAX_HEADER_BYTES}`, raw }
  }
  // Counted with the native search, before anything is decoded.
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.length)
  let lines = 0
  for (let i = buf.indexOf(CRLF); i >= 0 && lines <= MAX_HEADER_LINES + 2; i = buf.indexOf(CRLF, i + 2)) lines++
  // The version line and the closing blank line are not headers.
  if (lines - 2 > MAX_HEADER_LINES) {
    return { ok: false, reason: `more than ${MAX_HEADER_LINES} header lines`, raw }
  }
  const text = latin1.decode(raw)
  const parts = text.split('\r\n')
  if (!parts[0]!.startsWith('NATS/1.0')) return { ok: false, reason: 'header block does not start with NATS/1.0', raw }
  const byName = new Map<string, string[]>()
  for (let i = 1; i < parts.length; i++) {
    const line = parts[i]!
    if (line === '') continue
    const colon = line.indexOf(':')
    if (colon <= 0) return { ok: false, reason: `header line ${i} has no name: ${quote(line)}`, raw }
    const name = line.slice(0, colon)
    for (let c = 0; c < name.length; c++) {
      const code = name.charCodeAt(c)
      if (code < 33 || code > 126) {
        return { ok: false, reason: `header name ${quote(name)} has a byte no client accepts (0x${code.toString(16).padStart(2, '0')} at ${c})`, raw }
      }
    }
    const rawValue = line.slice(colon + 1)
    if (/[\r\n]/.test(rawValue)) return { ok: false, reason: `header ${quote(name)} has a lone CR or LF in its value`, raw }
    // Values travel as UTF-8 (invalid sequences read as U+FFFD, as nats.js reads them).
    const value = isAscii(rawValue) ? rawValue.trim() : utf8.decode(latin1Bytes(rawValue)).trim()
    const values = byName.get(name)
    if (values) values.push(value)
    else byName.set(name, [value])
  }
  if (byName.size === 0) return NONE
  return { ok: true, headers: [...byName] }
}

function readThroughClient(msg: Msg): HeaderRead {
  try {
    const h = msg.headers
    if (!h) return NONE
    const out: Array<[string, string[]]> = []
    for (const key of h.keys()) out.push([key, h.values(key)])
    return { ok: true, headers: out }
  } catch (err) {
    return { ok: false, reason: `headers cannot be decoded: ${(err as Error).message}`, raw: new Uint8Array(0) }
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false
  return true
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

/** A name or line as an error shows it: printable, escaped, at most 60 characters. */
function quote(s: string): string {
  const shown = JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s)
  return shown.replace(/[\u0080-\u00ff]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16)}`)
}

/** The first value of header `name` (exact case, then any case); undefined when absent. */
export function headerValue(headers: WireHeaders, name: string): string | undefined {
  if (!headers) return undefined
  const lower = name.toLowerCase()
  for (const [k, values] of headers) if (k === name || k.toLowerCase() === lower) return values[0]
  return undefined
}
