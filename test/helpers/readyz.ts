/**
 * A replica's HTTP endpoints as a test reads them: a free port to give it, and `/readyz`.
 */
import { createServer } from 'node:net'

/** A TCP port free on loopback now (the OS picks it; the listener is closed again). */
export async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as { port: number }
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

/** `GET /readyz`: the status and the body (`{ ready, problems }`); status 0 while nothing listens. */
export async function readyz(port: number): Promise<{ status: number; body: { ready: boolean; problems: string[] } }> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) })
    return { status: res.status, body: (await res.json()) as { ready: boolean; problems: string[] } }
  } catch {
    // Not listening yet (the replica is still starting): polled again by the caller.
    return { status: 0, body: { ready: false, problems: ['not listening'] } }
  }
}
