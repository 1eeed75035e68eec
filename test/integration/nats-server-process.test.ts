import { spawn } from 'node:child_process'
import { access, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { FnErrorCode, isFnError } from '../../runtime/errors/fn-error.ts'
import { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { connectTo } from '../helpers/connect.ts'
import { startCluster, startServer, uniquePrefix } from '../helpers/nats-server.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** Whether a process runs (a zombie, which nothing reaps once its parent is gone, does not). */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  )

describe('NatsServerProcess', () => {
  let server: NatsServerProcess

  beforeAll(async () => {
    server = await startServer()
  })

  afterAll(async () => {
    await server?.stop()
  })

  it('serves JetStream on a loopback URL', async () => {
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`)
    const p = uniquePrefix()
    const nc = await connectTo(server.url)
    try {
      const jsm = await jetstreamManager(nc)
      await jsm.streams.add({ name: p, subjects: [`${p}.>`] })
      const ack = await jetstream(nc).publish(`${p}.hello`, 'world')
      expect(ack.seq).toBe(1)
      const msg = await jsm.streams.getMessage(p, { seq: ack.seq })
      expect(msg?.subject).toBe(`${p}.hello`)
      expect(msg?.string()).toBe('world')
    } finally {
      await nc.close()
    }
  })

  it('restarts on the same port with the stream intact, and stop deletes its temp store', async () => {
    const own = await startServer()
    try {
      const { port, storeDir } = own
      const pidBefore = own.pid
      const p = uniquePrefix()
      const nc = await connectTo(own.url)
      try {
        await (await jetstreamManager(nc)).streams.add({ name: p, subjects: [`${p}.>`] })
        await jetstream(nc).publish(`${p}.a`, 'kept')
      } finally {
        await nc.close()
      }

      await own.restart()
      expect(own.port).toBe(port)
      expect(own.pid).not.toBe(pidBefore)

      const again = await connectTo(own.url)
      try {
        const info = await (await jetstreamManager(again)).streams.info(p)
        expect(info.state.messages).toBe(1)
      } finally {
        await again.close()
      }

      expect(await exists(storeDir)).toBe(true)
      await own.stop()
      expect(await exists(storeDir)).toBe(false)
      await own.stop() // idempotent
      await expect(own.restart()).rejects.toMatchObject({ code: FnErrorCode.InvalidState })
    } finally {
      await own.stop()
    }
  })

  it('comes back after a crash (SIGKILL) on restart', async () => {
    const own = await startServer()
    try {
      own.kill('SIGKILL')
      expect((await own.waitForExit()).signal).toBe('SIGKILL')
      await own.restart()
      const nc = await connectTo(own.url)
      await nc.close()
    } finally {
      await own.stop()
    }
  })

  it('stops when the process that started it is killed outright (SIGKILL), with no exit handler run', async () => {
    const script = `const { NatsServerProcess } = await import(${JSON.stringify(new URL('../../runtime/nats/nats-server-process.ts', import.meta.url).href)})
const server = await NatsServerProcess.start()
console.log(JSON.stringify({ pid: server.pid }))
setInterval(() => {}, 60_000)`
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    parent.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    let pid = 0
    try {
      await vi.waitFor(() => expect(out).toContain('\n'), { timeout: 20_000, interval: 50 })
      pid = (JSON.parse(out.trim()) as { pid: number }).pid
      expect(await running(pid)).toBe(true)
      parent.kill('SIGKILL')
      await expect.poll(() => running(pid), { timeout: 10_000, interval: 50 }).toBe(false)
    } finally {
      parent.kill('SIGKILL')
      if (pid && (await running(pid))) process.kill(pid, 'SIGKILL')
    }
  })

  it('keeps a store it was given', async () => {
    const own = await startServer({ storeDir: `${server.storeDir}-kept-${uniquePrefix()}` })
    await own.stop()
    expect(await exists(own.storeDir)).toBe(true)
    const cleanup = await startServer({ storeDir: own.storeDir, keepStore: false })
    await cleanup.stop()
    expect(await exists(own.storeDir)).toBe(false)
  })

  it('fails with FN_NATS_SERVER_START_FAILED and the stderr tail when the server cannot start', async () => {
    const err = await startServer({ args: ['--no_such_flag'] }).catch((e: unknown) => e)
    expect(isFnError(err, FnErrorCode.NatsServerStartFailed)).toBe(true)
    expect((err as Error).message).toContain('no_such_flag')
  })

  it('fails with FN_NATS_SERVER_START_FAILED when its port is taken, and logs the fatal line', async () => {
    const warned: string[] = []
    const noop = () => undefined
    const logger = { info: noop, debug: noop, warn: (obj: object) => warned.push(JSON.stringify(obj)) }
    const err = await startServer({ port: server.port, logger }).catch((e: unknown) => e)
    expect(isFnError(err, FnErrorCode.NatsServerStartFailed)).toBe(true)
    expect((err as Error).message).toContain('address already in use')
    expect(warned.some((w) => w.includes('[FTL]'))).toBe(true)
  })

  it('fails with FN_NATS_SERVER_START_FAILED when it is not ready by the deadline', async () => {
    const err = await startServer({ readyTimeoutMs: 1 }).catch((e: unknown) => e)
    expect(isFnError(err, FnErrorCode.NatsServerStartFailed)).toBe(true)
    expect((err as Error).message).toContain('was not ready within 1 ms')
  })
})

describe('startCluster', () => {
  it('forms a 3-node JetStream cluster that takes an R3 stream', async () => {
    const cluster = await startCluster()
    try {
      expect(cluster.urls).toHaveLength(3)
      const p = uniquePrefix()
      const nc = await connectTo(cluster.urls)
      try {
        const jsm = await jetstreamManager(nc)
        const created = await jsm.streams.add({ name: p, subjects: [`${p}.>`], num_replicas: 3 })
        expect(created.config.num_replicas).toBe(3)
        // Right after creation, the node this client is on may not yet know of the stream's
        // interest and answers "no responders": the client retries that, as production code must.
        const ack = await jetstream(nc).publish(`${p}.x`, 'r3', { retries: 5 })
        expect(ack.seq).toBe(1)
        const info = await jsm.streams.info(p)
        expect(info.state.messages).toBe(1)
        expect(info.cluster?.replicas).toHaveLength(2)
      } finally {
        await nc.close()
      }
    } finally {
      await cluster.stop()
    }
  })
})
