/**
 * The ScaledObject that `fn k8s` writes, read the way KEDA reads it, against a 3-node cluster with
 * an R3 stream: KEDA's nats-jetstream scaler (re-told in test/helpers) starts from the trigger's
 * monitoring endpoint, a node that does not lead the consumer (whose own counts say 0), finds the
 * leader through `/varz` and `/jsz`, and reports the lag `fn ls` shows: pending + in flight.
 * Nodes sit on 127.0.0.1-3 with one shared monitoring port, as pods behind a headless service.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { parse } from 'yaml'
import { connectTo } from '../helpers/connect.ts'
import { writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { runFn, runFnIn, spawnStart } from '../helpers/fn-process.ts'
import { KedaJetStreamScaler, type JetStreamTriggerMetadata } from '../helpers/keda-jetstream-scaler.ts'
import { startCluster, uniquePrefix, waitForR3, type TestCluster } from '../helpers/nats-server.ts'

let cluster: TestCluster
let nc: NatsConnection
let jsm: JetStreamManager
let project: DevProject | undefined

beforeAll(async () => {
  cluster = await startCluster({ distinctHosts: true })
  nc = await connectTo(cluster.urls)
  jsm = await jetstreamManager(nc)
  await waitForR3(jsm)
})

afterAll(async () => {
  await project?.remove()
  await nc?.close()
  await cluster?.stop()
})

function fnSource(name: string, subject: string, concurrency: number): string {
  return `import { defineFunction } from 'jetfn'

export default defineFunction({
  name: '${name}',
  subject: '${subject}',
  concurrency: ${concurrency},
  // Messages the test takes in flight stay unacknowledged for the whole test.
  ackWait: '5m',
  async handler() {},
})
`
}

/** A port free a moment ago (the OS's pick for port 0). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

interface StatusRow {
  name: string
  pending: number | null
  inFlight: number | null
}

async function fnLs(): Promise<StatusRow[]> {
  const ls = await runFn(project!, ['ls', '--json'], cluster.urls.join(','))
  expect(ls.stderr).toBe('')
  return JSON.parse(ls.stdout) as StatusRow[]
}

it('reads the backlog that fn ls shows, on the consumer leader found as KEDA finds it', async () => {
  const prefix = uniquePrefix()
  const serverStream = `${prefix}_SRV`
  // A stream that only the server knows: fn k8s asks NATS for it.
  await jsm.streams.add({ name: serverStream, subjects: [`${serverStream}.>`], num_replicas: 3 })
  project = await writeDevProject({
    prefix,
    // fn k8s needs a health port; the replica started below must not take a fixed one.
    config: { streams: [{ name: prefix, subjects: [`${prefix}.>`], replicas: 3 }], pool: { threads: 1 }, http: { port: await freePort() } },
    functions: { 'work.ts': fnSource('work', `${prefix}.work`, 4), 'audit.ts': fnSource('audit', `${serverStream}.audit`, 2) },
  })
  await writeFile(join(project.dir, 'package.json'), JSON.stringify({ name: 'shop', version: '2.0.0', dependencies: { jetfn: '^0.1.0' } }))
  await writeFile(join(project.dir, 'package-lock.json'), '{}\n')
  const url = cluster.urls.join(',')

  const deploy = await runFn(project, ['deploy'], url)
  expect(deploy.code, deploy.stderr).toBe(0)
  const js = jetstream(nc)
  for (let i = 0; i < 25; i++) await js.publish(`${prefix}.work`, JSON.stringify({ i }))
  // Five in flight: delivered and not acknowledged.
  const batch = await (await js.consumers.get(prefix, 'fn_work')).fetch({ max_messages: 5, expires: 2_000 })
  const taken: JsMsg[] = []
  for await (const m of batch) if (taken.push(m) === 5) break
  expect(taken).toHaveLength(5)

  const leader = (await jsm.consumers.info(prefix, 'fn_work')).cluster!.leader!
  const nodeOf = (server: string) => Number(/_n(\d+)$/.exec(server)![1])
  const follower = cluster.servers.findIndex((_, i) => i !== nodeOf(leader))
  const endpoint = `${cluster.servers[follower]!.host}:${cluster.servers[follower]!.monitorPort}`

  const k8s = await runFnIn(project.dir, ['k8s', '--config', 'fn.config.ts', '--monitoring', endpoint, '--min', '0', '--max', '5'], { NATS_URL: url })
  expect(k8s.code, k8s.stderr).toBe(0)
  expect(k8s.stdout).toMatch(/created\s+k8s\/scaledobject\.yaml/)
  const scaled = parse(await readFile(join(project.dir, 'k8s', 'scaledobject.yaml'), 'utf8')) as { spec: { triggers: Array<{ name: string; metadata: JetStreamTriggerMetadata }> } }
  const trigger = (name: string) => scaled.spec.triggers.find((t) => t.name === name)!.metadata
  expect(trigger('work')).toMatchObject({ stream: prefix, consumer: 'fn_work', lagThreshold: '4', natsServerMonitoringEndpoint: endpoint, account: '$G' })
  expect(trigger('audit')).toMatchObject({ stream: serverStream, consumer: 'fn_audit', lagThreshold: '2' })

  const scaler = new KedaJetStreamScaler(trigger('work'))
  const first = await scaler.getMetricsAndActivity()
  const work = (await fnLs()).find((s) => s.name === 'work')!
  expect(work).toMatchObject({ pending: 20, inFlight: 5 })
  expect(first).toEqual({ lag: work.pending! + work.inFlight!, active: true })
  // It asked the follower, then /varz for the nodes, and settled on the leader.
  expect(scaler.requests[0]).toBe(scaler.monitoringURL)
  expect(scaler.requests).toContain(`http://${endpoint}/varz`)
  expect(scaler.monitoringLeaderURL.startsWith(`http://${cluster.servers[nodeOf(leader)]!.host}:`)).toBe(true)

  // The next poll goes straight to the cached leader.
  scaler.requests.length = 0
  expect(await scaler.getMetricsAndActivity()).toEqual({ lag: 25, active: true })
  expect(scaler.requests).toEqual([scaler.monitoringLeaderURL])

  // A function with no backlog does not wake a Deployment at zero.
  expect(await new KedaJetStreamScaler(trigger('audit')).getMetricsAndActivity()).toEqual({ lag: 0, active: false })

  // The leader moves: the cached URL now names another leader, and the search runs again.
  const before = scaler.monitoringLeaderURL
  await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.${prefix}.fn_work`, undefined, { timeout: 5_000 })
  await expect.poll(async () => (await jsm.consumers.info(prefix, 'fn_work')).cluster?.leader, { timeout: 15_000 }).not.toBe(leader)
  await expect.poll(async () => ({ ...(await scaler.getMetricsAndActivity()), moved: scaler.monitoringLeaderURL !== before }), { timeout: 15_000 }).toEqual({ lag: 25, active: true, moved: true })
  const after = (await fnLs()).find((s) => s.name === 'work')!
  expect(after.pending! + after.inFlight!).toBe(25)

  // A replica works the backlog off: the lag KEDA sees falls to zero and the trigger goes idle.
  for (const m of taken) m.nak()
  await using replica = spawnStart(project, url)
  await replica.waitFor((r) => r.msg === 'replica ready', 'replica ready')
  await expect.poll(() => scaler.getMetricsAndActivity(), { timeout: 20_000 }).toEqual({ lag: 0, active: false })
  expect((await fnLs()).find((s) => s.name === 'work')).toMatchObject({ pending: 0, inFlight: 0 })
}, 90_000)
