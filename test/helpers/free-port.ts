import { createServer } from 'node:net'

/** A port nobody listens on right now: bound by the OS, then released for a replica. */
export async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as { port: number }
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}
