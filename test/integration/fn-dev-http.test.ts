/**
 * `fn dev` and `http.port`: with a port in fn.config.ts it serves `/healthz`, `/readyz` and
 * `/metrics` as `fn start` does; without one it serves nothing (two `fn dev` on one machine must
 * not fight over `fn start`'s default port).
 */
import { createServer } from 'node:net'
import { expect, it } from 'vitest'
import { okFunctionSource, spawnDev } from '../helpers/dev-process.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

/** A port nobody listens on right now: bound by the OS, then released for `fn dev`. */
async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = srv.address() as { port: number }
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

it('serves /healthz, /readyz and /metrics on the http.port of fn.config.ts; exits 0 on SIGINT', async () => {
  const prefix = uniquePrefix()
  const port = await freePort()
  const project = await t.project(prefix, { 'ok.ts': okFunctionSource(prefix) }, { http: { port } })
  await using dev = spawnDev(project, { url: t.server.url })
  await dev.waitFor(new RegExp(`fn dev ready.*"http":${port}`))

  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: res.status, body: await res.text() }
  }
  expect(await get('/healthz')).toMatchObject({ status: 200 })
  await expect.poll(async () => (await get('/readyz')).status).toBe(200)
  await t.js.publish(`${prefix}.in.ok`, '{}')
  await expect
    .poll(async () => (await get('/metrics')).body, { timeout: 15_000 })
    .toMatch(new RegExp(`^jetfn_invocations_total\\{[^}]*fn="${prefix}_ok"[^}]*\\} 1$`, 'm'))

  dev.kill('SIGINT')
  expect(await dev.exited).toBe(0)
})

it('serves nothing when fn.config.ts sets no http.port', async () => {
  const prefix = uniquePrefix()
  const project = await t.project(prefix, { 'ok.ts': okFunctionSource(prefix) }, { http: undefined })
  await using dev = spawnDev(project, { url: t.server.url })
  await dev.waitFor(/fn dev ready.*"http":null/)
  dev.kill('SIGINT')
  expect(await dev.exited).toBe(0)
})
