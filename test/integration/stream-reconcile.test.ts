/**
 * A stream of `fn.config.ts` that already exists, on a real server: a replica starting with the
 * file applies only the fields it writes, and refuses a change that would lose data or safety,
 * naming the stream, the field, the old and the new value, and changing nothing.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream'
import { nanos, type NatsConnection } from '@nats-io/transport-node'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { Replica } from '../../runtime/replica/replica.ts'
import { connectTo } from '../helpers/connect.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'
import { testConfig, testLog } from '../helpers/runtime.ts'

let server: NatsServerProcess
let nc: NatsConnection
let jsm: JetStreamManager

beforeAll(async () => {
  server = await startServer()
  nc = await connectTo(server.url)
  jsm = await jetstreamManager(nc)
})

afterAll(async () => {
  await nc?.close()
  await server?.stop()
})

const HOUR = 3_600_000

/** A stream as an operator set it up by hand: limits and a duplicate window jetfn would not pick. */
async function existingStream(name: string, subjects: string[]): Promise<StreamConfig> {
  const info = await jsm.streams.add({ name, subjects, max_age: nanos(HOUR), max_msgs: 1_000, max_bytes: 1 << 20, duplicate_window: nanos(30_000) })
  return info.config
}

/** Starts (and stops) a replica whose fn.config.ts lists `stream`: what `fn start` does first. */
async function startWith(stream: Record<string, unknown>): Promise<void> {
  const replica = new Replica({ config: testConfig(server.url, { pool: { threads: 1 }, streams: [stream] }), log: testLog })
  try {
    await replica.start()
  } finally {
    if (replica.state === 'running') await replica.stop(0)
  }
}

async function config(name: string): Promise<StreamConfig> {
  return (await jsm.streams.info(name)).config
}

it('adds a subject the file writes, and keeps every limit it leaves out', async () => {
  const p = uniquePrefix()
  const before = await existingStream(p, [`${p}.a.>`])
  await startWith({ name: p, subjects: [`${p}.a.>`, `${p}.b.>`] })
  expect(await config(p)).toEqual({ ...before, subjects: [`${p}.a.>`, `${p}.b.>`] })
  await jetstream(nc).publish(`${p}.b.x`, 'stored')
  expect((await jsm.streams.info(p)).state.messages).toBe(1)
})

it('raises a limit the file writes', async () => {
  const p = uniquePrefix()
  const before = await existingStream(p, [`${p}.>`])
  await startWith({ name: p, subjects: [`${p}.>`], maxAge: '2h' })
  expect(await config(p)).toEqual({ ...before, max_age: nanos(2 * HOUR) })
})

it('leaves a stream alone when the file writes nothing that differs', async () => {
  const p = uniquePrefix()
  const before = await existingStream(p, [`${p}.>`])
  // The defaults (R1, no max age, 2m duplicate window, file) would differ from this stream.
  await startWith({ name: p, subjects: [`${p}.>`] })
  expect(await config(p)).toEqual(before)
})

it.each([
  ['a removed subject', { subjects: ['{p}.a.>'] }, `'subjects' would go from ['{p}.a.>', '{p}.b.>'] to ['{p}.a.>'] (removing '{p}.b.>' stops storing its messages)`],
  ['a smaller limit', { subjects: ['{p}.a.>', '{p}.b.>'], maxAge: '10m' }, `'maxAge' would go from '1h' to '10m' (a smaller limit removes messages the stream keeps now)`],
  ['another storage', { subjects: ['{p}.a.>', '{p}.b.>'], storage: 'memory' }, `'storage' would go from file to memory (the server cannot move a stream to another storage)`],
])('refuses %s, naming the stream, the field, old and new value, and changes nothing', async (_, fields, reason) => {
  const p = uniquePrefix()
  const before = await existingStream(p, [`${p}.a.>`, `${p}.b.>`])
  const stream = JSON.parse(JSON.stringify({ name: p, ...fields }).replaceAll('{p}', p)) as Record<string, unknown>
  const err = await startWith(stream).then(() => undefined, (e: unknown) => e as { code?: string; message?: string })
  expect(err).toMatchObject({
    code: 'FN_STREAM_CONFLICT',
    message: `stream ${p}: ${reason.replaceAll('{p}', p)}; change it on the server yourself if you mean it`,
  })
  expect(await config(p)).toEqual(before)
  expect(before.storage).toBe(StorageType.File)
})
