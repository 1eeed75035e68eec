/**
 * A raw NATS protocol client over `node:net`, for tests that must send what no client library
 * will: header names with spaces, control or non-ASCII bytes, thousands of headers, a header
 * block of any size. It speaks just enough of the protocol: CONNECT, PUB, HPUB, SUB, PING/PONG
 * (to flush), and reads INFO, MSG, HMSG, +OK and -ERR. JetStream publishes carry a reply subject
 * on an inbox the client subscribes to, so that the server's PubAck (`{"stream":..,"seq":..}`)
 * comes back to the caller.
 */
import { randomBytes } from 'node:crypto'
import { connect as netConnect, type Socket } from 'node:net'

const CRLF = Buffer.from('\r\n')

/** What the server says about itself in `INFO`. */
export interface RawServerInfo {
  server_id: string
  version: string
  /** Largest message (header block + payload) the server accepts, bytes. */
  max_payload: number
  headers?: boolean
  [key: string]: unknown
}

/** A message received on a subscription. */
export interface RawMsg {
  subject: string
  sid: number
  reply?: string
  /** The raw header block (`NATS/1.0...\r\n\r\n`), empty when the message had none. */
  headers: Buffer
  payload: Buffer
}

/** A JetStream publish acknowledgement. */
export interface RawPubAck {
  stream: string
  seq: number
  duplicate?: boolean
}

/** The JetStream API refused a publish (`{"error":{...}}`), or no stream listens on the subject. */
export class RawPubAckError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message)
    this.name = 'RawPubAckError'
  }
}

/**
 * Builds a header block: `NATS/1.0` (or `status`), each line, then the blank line. A string line
 * is sent as its UTF-8 bytes, a Buffer line exactly as it is: a line is never checked.
 */
export function headerBlock(lines: Array<string | Uint8Array>, status = 'NATS/1.0'): Buffer {
  const parts: Buffer[] = [Buffer.from(status, 'latin1'), CRLF]
  for (const line of lines) {
    parts.push(typeof line === 'string' ? Buffer.from(line, 'utf8') : Buffer.from(line), CRLF)
  }
  parts.push(CRLF)
  return Buffer.concat(parts)
}

interface Waiter {
  resolve(m: RawMsg): void
  reject(err: Error): void
  timer: NodeJS.Timeout
}

/** A connection speaking the NATS client protocol directly. */
export class RawNatsClient {
  readonly info: RawServerInfo
  readonly #socket: Socket
  #buf: Buffer = Buffer.alloc(0)
  #pongs: Array<{ resolve(): void; reject(err: Error): void }> = []
  #subs = new Map<number, (m: RawMsg) => void>()
  #nextSid = 1
  #closed: Error | undefined
  #errors: string[] = []
  // PubAcks come to `<inbox>.<n>` on one wildcard subscription.
  readonly #inbox = `_INBOX.raw_${randomBytes(8).toString('hex')}`
  #nextReply = 1
  #acks = new Map<string, Waiter>()

  private constructor(socket: Socket, info: RawServerInfo, rest: Buffer) {
    this.#socket = socket
    this.info = info
    this.#buf = rest
    socket.on('data', (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
      this.#parse()
    })
    socket.on('close', () => this.#fail(new Error(`raw NATS connection closed${this.#errors.length ? `: ${this.#errors.join('; ')}` : ''}`)))
    socket.on('error', (err) => this.#fail(err))
  }

  /** Connects to `nats://host:port`, sends CONNECT, and resolves once the server has answered a PING. */
  static async connect(url: string, timeoutMs = 5_000): Promise<RawNatsClient> {
    const u = new URL(url)
    const socket = netConnect({ host: u.hostname, port: Number(u.port || 4222) })
    socket.setNoDelay(true)
    const { info, rest } = await new Promise<{ info: RawServerInfo; rest: Buffer }>((resolve, reject) => {
      let buf = Buffer.alloc(0)
      const timer = setTimeout(() => done(new Error(`no INFO from ${url} within ${timeoutMs} ms`)), timeoutMs)
      const onData = (chunk: Buffer): void => {
        buf = Buffer.concat([buf, chunk])
        const end = buf.indexOf(CRLF)
        if (end < 0) return
        const line = buf.subarray(0, end).toString()
        if (!line.startsWith('INFO ')) return done(new Error(`expected INFO, got ${JSON.stringify(line.slice(0, 200))}`))
        done(undefined, { info: JSON.parse(line.slice(5)) as RawServerInfo, rest: buf.subarray(end + 2) })
      }
      const onError = (err: Error): void => done(err)
      const done = (err?: Error, value?: { info: RawServerInfo; rest: Buffer }): void => {
        clearTimeout(timer)
        socket.off('data', onData)
        socket.off('error', onError)
        if (err) {
          socket.destroy()
          reject(err)
        } else resolve(value!)
      }
      socket.on('data', onData)
      socket.on('error', onError)
    })
    const client = new RawNatsClient(socket, info, rest)
    const connectOpts = { verbose: false, pedantic: false, headers: true, no_responders: true, lang: 'raw-test', version: '0', protocol: 1 }
    socket.write(`CONNECT ${JSON.stringify(connectOpts)}\r\n`)
    client.subscribe(`${client.#inbox}.*`, (m) => client.#onAck(m))
    await client.flush(timeoutMs)
    return client
  }

  /** `-ERR` lines the server sent so far. */
  get errors(): readonly string[] {
    return this.#errors
  }

  /** Sends `PUB subject [reply] <len>` with the payload: a message without headers. */
  publish(subject: string, payload: Uint8Array, reply?: string): void {
    this.#check()
    const head = `PUB ${subject}${reply ? ` ${reply}` : ''} ${payload.length}\r\n`
    this.#socket.write(Buffer.concat([Buffer.from(head), Buffer.from(payload.buffer, payload.byteOffset, payload.length), CRLF]))
  }

  /**
   * Sends `HPUB subject [reply] <hdrlen> <totlen>` with the header block exactly as given
   * (see {@link headerBlock}) and the payload.
   */
  hpublish(subject: string, headers: Uint8Array, payload: Uint8Array, reply?: string): void {
    this.#check()
    const head = `HPUB ${subject}${reply ? ` ${reply}` : ''} ${headers.length} ${headers.length + payload.length}\r\n`
    this.#socket.write(
      Buffer.concat([
        Buffer.from(head),
        Buffer.from(headers.buffer, headers.byteOffset, headers.length),
        Buffer.from(payload.buffer, payload.byteOffset, payload.length),
        CRLF,
      ]),
    )
  }

  /**
   * Publishes to a JetStream subject and resolves with the PubAck; `headers` (a raw block, may be
   * anything) makes it an HPUB, otherwise a PUB. Rejects with {@link RawPubAckError} when the
   * server refuses the message, or after `timeoutMs` without an answer.
   */
  jsPublish(subject: string, payload: Uint8Array, headers?: Uint8Array, timeoutMs = 10_000): Promise<RawPubAck> {
    const reply = `${this.#inbox}.${this.#nextReply++}`
    const answered = new Promise<RawMsg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#acks.delete(reply)
        reject(new RawPubAckError(`no PubAck for a publish to ${subject} within ${timeoutMs} ms${this.#errors.length ? ` (server errors: ${this.#errors.join('; ')})` : ''}`))
      }, timeoutMs)
      this.#acks.set(reply, { resolve, reject, timer })
    })
    try {
      if (headers) this.hpublish(subject, headers, payload, reply)
      else this.publish(subject, payload, reply)
    } catch (err) {
      const w = this.#acks.get(reply)
      if (w) {
        clearTimeout(w.timer)
        this.#acks.delete(reply)
      }
      return Promise.reject(err)
    }
    return answered.then(parsePubAck)
  }

  /** Subscribes; the callback gets every message on `subject`. Returns the sid. */
  subscribe(subject: string, callback: (m: RawMsg) => void): number {
    this.#check()
    const sid = this.#nextSid++
    this.#subs.set(sid, callback)
    this.#socket.write(`SUB ${subject} ${sid}\r\n`)
    return sid
  }

  /** Sends PING and resolves on the PONG: everything written before it has been processed by the server. */
  flush(timeoutMs = 10_000): Promise<void> {
    this.#check()
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no PONG within ${timeoutMs} ms`)), timeoutMs)
      this.#pongs.push({
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      })
      this.#socket.write('PING\r\n')
    })
  }

  /** Closes the socket; pending flushes and PubAcks are rejected. */
  async close(): Promise<void> {
    if (this.#socket.destroyed) return
    const closed = new Promise<void>((resolve) => this.#socket.once('close', () => resolve()))
    this.#socket.end()
    this.#socket.destroySoon()
    await closed
  }

  #check(): void {
    if (this.#closed) throw this.#closed
  }

  #fail(err: Error): void {
    if (this.#closed) return
    this.#closed = err
    for (const p of this.#pongs.splice(0)) p.reject(err)
    for (const [reply, w] of this.#acks) {
      clearTimeout(w.timer)
      w.reject(err)
      this.#acks.delete(reply)
    }
  }

  #onAck(m: RawMsg): void {
    const w = this.#acks.get(m.subject)
    if (!w) return
    clearTimeout(w.timer)
    this.#acks.delete(m.subject)
    w.resolve(m)
  }

  #parse(): void {
    for (;;) {
      const end = this.#buf.indexOf(CRLF)
      if (end < 0) return
      const line = this.#buf.subarray(0, end).toString('latin1')
      const op = line.slice(0, line.indexOf(' ') < 0 ? line.length : line.indexOf(' ')).toUpperCase()
      if (op === 'MSG' || op === 'HMSG') {
        const args = line.split(' ').slice(1)
        const total = Number(args[args.length - 1])
        const hdr = op === 'HMSG' ? Number(args[args.length - 2]) : 0
        const need = end + 2 + total + 2
        if (this.#buf.length < need) return
        const body = this.#buf.subarray(end + 2, end + 2 + total)
        const subject = args[0]!
        const sid = Number(args[1])
        const reply = args.length === (op === 'HMSG' ? 5 : 4) ? args[2] : undefined
        const msg: RawMsg = { subject, sid, reply, headers: Buffer.from(body.subarray(0, hdr)), payload: Buffer.from(body.subarray(hdr)) }
        this.#buf = this.#buf.subarray(need)
        this.#subs.get(sid)?.(msg)
        continue
      }
      this.#buf = this.#buf.subarray(end + 2)
      if (op === 'PING') this.#socket.write('PONG\r\n')
      else if (op === 'PONG') this.#pongs.shift()?.resolve()
      else if (op === '-ERR') this.#errors.push(line.slice(5))
      // INFO updates and +OK carry nothing this client needs.
    }
  }
}

function parsePubAck(m: RawMsg): RawPubAck {
  const status = m.headers.length > 0 ? m.headers.toString('latin1').split('\r\n')[0]! : ''
  if (/^NATS\/1\.0 503/.test(status)) throw new RawPubAckError(`no responders: no stream listens on the subject`, 503)
  const text = m.payload.toString()
  let body: { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; description?: string } }
  try {
    body = JSON.parse(text) as typeof body
  } catch {
    throw new RawPubAckError(`PubAck is not JSON: ${JSON.stringify(text.slice(0, 200))} (status ${JSON.stringify(status)})`)
  }
  if (body.error) throw new RawPubAckError(`publish refused: ${body.error.description ?? JSON.stringify(body.error)}`, body.error.code)
  if (typeof body.stream !== 'string' || typeof body.seq !== 'number') throw new RawPubAckError(`unexpected PubAck: ${text.slice(0, 200)}`)
  return { stream: body.stream, seq: body.seq, ...(body.duplicate ? { duplicate: true } : {}) }
}
