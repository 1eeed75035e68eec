/**
 * Finds out why a TLS connection to a NATS server fails when nats.js only says "timeout". Under
 * TLS 1.3 a server that requires a client certificate (`verify: true`) and gets none completes the
 * handshake and then sends an alert; nats.js drops that socket error and waits for its PONG until
 * the connect timeout (seen with nats.js 3.4, nats-server 2.15.1). The probe repeats the opening
 * on a socket of its own: read the server's INFO, start TLS if the server asks for it, and report
 * the handshake error or the alert that follows it.
 */
import { isIP, Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'

/** TLS material as passed to nats.js (PEM strings). */
export interface ProbeTlsOptions {
  ca?: string | undefined
  cert?: string | undefined
  key?: string | undefined
}

/**
 * Opens `server` as nats.js would and returns the TLS error it meets, or undefined when the
 * server does not ask for TLS, does not answer, or the handshake holds for `settleMs` after it
 * completed.
 */
export async function probeTls(server: string, tls: ProbeTlsOptions | undefined, timeoutMs = 2_000, settleMs = 1_000): Promise<Error | undefined> {
  const { host, port } = hostPort(server)
  const socket = new Socket()
  let secure: TLSSocket | undefined
  const deadline = AbortSignal.timeout(timeoutMs)
  try {
    const info = await readInfo(socket, host, port, deadline)
    if (!info || !(info.tls_required === true || (tls !== undefined && info.tls_available === true))) return undefined
    secure = tlsConnect({ socket, ...(isIP(host) ? {} : { servername: host }), ...tls, rejectUnauthorized: true })
    return await handshake(secure, deadline, settleMs)
  } finally {
    secure?.destroy()
    socket.destroy()
  }
}

interface ServerInfo {
  tls_required?: boolean
  tls_available?: boolean
}

function readInfo(socket: Socket, host: string, port: number, deadline: AbortSignal): Promise<ServerInfo | undefined> {
  return new Promise((resolve) => {
    let text = ''
    const done = (info: ServerInfo | undefined): void => {
      socket.removeAllListeners('data')
      deadline.removeEventListener('abort', onAbort)
      resolve(info)
    }
    const onAbort = (): void => done(undefined)
    deadline.addEventListener('abort', onAbort, { once: true })
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1')
      const end = text.indexOf('\r\n')
      if (end < 0) return
      // Paused, so that the TLS socket built on top reads what follows.
      socket.pause()
      const m = /^INFO\s+(\{.*\})\s*$/.exec(text.slice(0, end))
      try {
        done(m?.[1] ? (JSON.parse(m[1]) as ServerInfo) : undefined)
      } catch {
        // Not a NATS server's INFO: nothing to say about TLS.
        done(undefined)
      }
    })
    socket.once('error', () => done(undefined))
    socket.once('close', () => done(undefined))
    socket.connect(port, host)
  })
}

function handshake(secure: TLSSocket, deadline: AbortSignal, settleMs: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let settle: NodeJS.Timeout | undefined
    const done = (err: Error | undefined): void => {
      clearTimeout(settle)
      deadline.removeEventListener('abort', onAbort)
      resolve(err)
    }
    const onAbort = (): void => done(undefined)
    deadline.addEventListener('abort', onAbort, { once: true })
    secure.once('error', (err) => done(err))
    secure.once('secureConnect', () => {
      if (!secure.authorized) return done(secure.authorizationError ?? new Error('server certificate not authorized'))
      // The alert of a server that refuses the client follows the handshake, and is only seen
      // by a socket that reads.
      settle = setTimeout(() => done(undefined), settleMs)
      secure.resume()
    })
    secure.once('close', () => done(new Error('the server closed the connection after the TLS handshake')))
  })
}

/** Host and port of a server URL as nats.js reads it: `nats://h:p`, `tls://h`, `h:p`, `[::1]:p`. */
function hostPort(server: string): { host: string; port: number } {
  const rest = server.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/^[^/]*@/, '')
  const m = /^\[([^\]]+)\](?::(\d+))?/.exec(rest) ?? /^([^:/]+)(?::(\d+))?/.exec(rest)
  return { host: m?.[1] ?? rest, port: m?.[2] === undefined ? 4222 : Number(m[2]) }
}
