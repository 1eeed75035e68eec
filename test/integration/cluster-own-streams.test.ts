/**
 * Replication on a 3-node cluster. jetfn's own state (`FN_FUNCTIONS`, `FN_BUNDLES`, `FN_DLQ`,
 * `FN_DLQ_PAYLOADS`) gets 3 replicas without any setting, so deploying, rolling back and
 * dead-lettering all keep working with a node down, and the node catches up when it returns.
 * A stream of `fn.config.ts` keeps the replicas the server has unless the file writes more.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { resolveConfig } from '../../runtime/config/config-schema.ts'
import { deployFunctions } from '../../runtime/deploy/deploy-functions.ts'
import { rollbackFunction } from '../../runtime/deploy/manage-functions.ts'
import { Registry } from '../../runtime/deploy/registry.ts'
import { ensureStream } from '../../runtime/nats/ensure-stream.ts'
import { Replica } from '../../runtime/replica/replica.ts'
import { runReplica, type RunningReplica } from '../../runtime/replica/run-replica.ts'
import { connectTo } from '../helpers/connect.ts'
import { writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { startCluster, uniquePrefix, waitForR3, type TestCluster } from '../helpers/nats-server.ts'
import { deadLetters, testLog } from '../helpers/runtime.ts'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const HOME = fileURLToPath(new URL('../../.fn/test', import.meta.url))
const OWN_STREAMS = ['KV_FN_FUNCTIONS', 'OBJ_FN_BUNDLES', 'FN_DLQ', 'OBJ_FN_DLQ_PAYLOADS']

let cluster: TestCluster
let nc: NatsConnection
let jsm: JetStreamManager
let project: DevProject | undefined
let running: RunningReplica | undefined

beforeAll(async () => {
  cluster = await startCluster()
  nc = await connectTo(cluster.urls)
  jsm = await jetstreamManager(nc)
  await waitForR3(jsm)
})

afterAll(async () => {
  await running?.stop(1_000)
  await project?.remove()
  await nc?.close()
  await cluster?.stop()
})

/** Publishes its output tagged with `tag`; dead-letters a message marked `bad`. */
function tagFunction(prefix: string, tag: string): string {
  return `import { defineFunction, NonRetryableError } from 'jetfn'

export default defineFunction({
  name: 'tag',
  subject: '${prefix}.in.tag',
  async handler(event, ctx) {
    const d = event.data as { id: string; bad?: boolean }
    if (d.bad) throw new NonRetryableError('bad input')
    ctx.publish('${prefix}.out.' + d.id, { tag: '${tag}' })
  },
})
`
}

/** Stream name → leader, for streams that have one. */
async function leaderOf(stream: string): Promise<string | undefined> {
  return (await jsm.streams.info(stream).catch(() => undefined))?.cluster?.leader
}

it('deploys, rolls back and dead-letters with a node down; the node catches up', async () => {
  const prefix = uniquePrefix()
  project = await writeDevProject({ prefix, config: {}, functions: { 'tag.ts': tagFunction(prefix, 'v1') } })
  // No replicas setting for jetfn's own streams: the cluster's 3 nodes decide.
  const config = resolveConfig(
    { nats: { servers: cluster.urls }, pool: { threads: 1 }, http: { port: 0 }, functionsDir: project.functionsDir, streams: [{ name: prefix, subjects: [`${prefix}.>`], replicas: 3 }] },
    { file: 'test.config.ts', env: {} },
  )
  running = await runReplica({ config, log: testLog, home: HOME, httpPort: 0 })
  const registry = await Registry.open(nc, { replicas: config.jetfn.replicas })
  const files = [join(project.functionsDir, 'tag.ts')]
  const deploy = async () => (await deployFunctions({ config, registry, jsm, server: nc.info, files, home: HOME }))[0]!
  const serving = (version: string) => expect.poll(() => running!.replica.running('tag')?.version, { timeout: 15_000 }).toBe(version)
  const js = jetstream(nc)

  const v1 = await deploy()
  await serving(v1.version)
  await js.publish(`${prefix}.in.tag`, JSON.stringify({ id: 'a' }))
  await expect.poll(async () => (await jsm.streams.getMessage(prefix, { last_by_subj: `${prefix}.out.a` }).catch(() => null))?.json<{ tag: string }>().tag, { timeout: 15_000 }).toBe('v1')
  // A dead letter too big for one message: its payload goes to FN_DLQ_PAYLOADS.
  await js.publish(`${prefix}.in.tag`, JSON.stringify({ id: 'big', bad: true, pad: 'x'.repeat(1_048_000) }))
  await expect.poll(async () => (await deadLetters(jsm, 'tag')).length, { timeout: 15_000 }).toBe(1)
  for (const stream of OWN_STREAMS) expect({ stream, replicas: (await jsm.streams.info(stream)).config.num_replicas }).toEqual({ stream, replicas: 3 })

  // Stop the node leading the registry's KV stream.
  const leader = (await leaderOf('KV_FN_FUNCTIONS'))!
  const victim = cluster.servers[Number(/_n(\d+)$/.exec(leader)![1])]!
  victim.kill('SIGTERM')
  for (const stream of [...OWN_STREAMS, prefix]) {
    await expect.poll(async () => { const l = await leaderOf(stream); return l !== undefined && l !== leader }, { timeout: 20_000 }).toBe(true)
  }

  // What the registry holds is checked, not what the running replica serves: its KV watch (an
  // ordered push consumer, 30 s idle heartbeat) can take a minute to notice that the node holding
  // it died, which is the registry follower's concern, not replication's.
  await writeFile(files[0]!, tagFunction(prefix, 'v2'))
  const v2 = await deploy()
  expect(v2).toMatchObject({ status: 'updated', previous: v1.version })
  // KV reads are direct gets, which any replica may answer: a follower can lag a moment behind.
  await expect.poll(async () => (await registry.get('tag'))?.version, { timeout: 10_000 }).toBe(v2.version)
  expect((await registry.getBundle(v2.version)).length).toBeGreaterThan(0)

  const back = await rollbackFunction(registry, 'tag')
  expect(back).toMatchObject({ from: v2.version, to: { version: v1.version } })
  await expect.poll(async () => (await registry.get('tag'))?.version, { timeout: 10_000 }).toBe(v1.version)

  await js.publish(`${prefix}.in.tag`, JSON.stringify({ id: 'c', bad: true }))
  await expect.poll(async () => (await deadLetters(jsm, 'tag')).length, { timeout: 15_000 }).toBe(2)

  // The node comes back, and every replica of jetfn's own streams is current again.
  await victim.restart()
  const caughtUp = async (stream: string) => {
    const c = (await jsm.streams.info(stream).catch(() => undefined))?.cluster
    return c?.leader !== undefined && c.replicas?.length === 2 && c.replicas.every((r) => r.current && !r.offline)
  }
  for (const stream of OWN_STREAMS) await expect.poll(() => caughtUp(stream), { timeout: 20_000 }).toBe(true)
}, 90_000)

it('keeps the replicas of a stream whose fn.config.ts entry leaves them out, and refuses fewer', async () => {
  const prefix = uniquePrefix()
  await jsm.streams.add({ name: prefix, subjects: [`${prefix}.>`], num_replicas: 3 })
  const start = async (stream: Record<string, unknown>) => {
    const config = resolveConfig({ nats: { servers: cluster.urls }, pool: { threads: 1 }, streams: [stream] }, { file: 'test.config.ts', env: {} })
    const replica = new Replica({ config, log: testLog })
    try {
      await replica.start()
    } finally {
      if (replica.state === 'running') await replica.stop(0)
    }
  }
  await start({ name: prefix, subjects: [`${prefix}.>`], duplicateWindow: '1m' })
  expect((await jsm.streams.info(prefix)).config).toMatchObject({ num_replicas: 3, duplicate_window: 60_000_000_000 })

  await expect(start({ name: prefix, subjects: [`${prefix}.>`], replicas: 1 })).rejects.toMatchObject({
    code: 'FN_STREAM_CONFLICT',
    message: `stream ${prefix}: 'replicas' would go from 3 to 1 (fewer replicas loses redundancy); change it on the server yourself if you mean it`,
  })
  expect((await jsm.streams.info(prefix)).config.num_replicas).toBe(3)
})

it("raises one of jetfn's own streams to the replicas wanted, and never lowers it", async () => {
  const name = uniquePrefix()
  await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: 1, max_msgs: 10 })
  const own = (replicas: number) =>
    ensureStream(jsm, { name, subjects: [`${name}.>`], storage: 'file', replicas, maxAgeMs: 0, duplicateWindowMs: 120_000 }, testLog, { own: true })
  await own(3)
  expect((await jsm.streams.info(name)).config).toMatchObject({ num_replicas: 3, max_msgs: 10 })
  // A node down (2 nodes seen) or a lower jetfn.replicas takes nothing away.
  await own(2)
  expect((await jsm.streams.info(name)).config.num_replicas).toBe(3)
})
