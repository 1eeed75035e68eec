/**
 * Flat memory: peak RSS of a replica (`fn start`, a real process) draining a backlog of
 * 1,000,000 messages versus 10,000, in one run against one fresh nats-server. The peak is the
 * kernel's own high-water mark (VmHWM in /proc/<pid>/status), so no sample is missed.
 *
 *   npx tsx scripts/bench-memory.ts [--small 10000] [--large 1000000]
 */
import { spawn } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { NatsServerProcess } from '../runtime/nats/nats-server-process.ts'
import { writeBenchProject, fill, waitDrained, runCli } from './bench-support.ts'

const { values } = parseArgs({ options: { small: { type: 'string', default: '10000' }, large: { type: 'string', default: '1000000' } } })
const root = fileURLToPath(new URL('..', import.meta.url))

async function peakRss(nc: NatsConnection, url: string, n: number, label: string): Promise<number> {
  const stream = `MEM_${label}`
  const project = await writeBenchProject(root, stream, { concurrency: 256 })
  try {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
    await fill(nc, `${stream}.in`, n)
    const deployed = await runCli(root, ['deploy', '--config', project.configFile], url)
    if (deployed.code !== 0) throw new Error(`deploy failed: ${deployed.stderr}`)
    const child = spawn(process.execPath, ['bin/fn.js', 'start', '--config', project.configFile], { cwd: root, env: { ...process.env, NATS_URL: url }, stdio: 'ignore' })
    const started = Date.now()
    await waitDrained(jsm, stream, 'fn_ok')
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8')
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024
    const seconds = (Date.now() - started) / 1000
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    await jsm.streams.delete(stream)
    console.log(`${n.toLocaleString('en')} messages: peak RSS ${(hwm / 2 ** 20).toFixed(1)} MiB, drained in ${seconds.toFixed(1)} s`)
    return hwm
  } finally {
    await rm(project.dir, { recursive: true, force: true })
  }
}

const server = await NatsServerProcess.start()
const nc = await connect({ servers: server.url, noAsyncTraces: true })
try {
  const small = await peakRss(nc, server.url, Number(values.small), 'small')
  const large = await peakRss(nc, server.url, Number(values.large), 'large')
  console.log(`peak RSS ratio ${Number(values.large).toLocaleString('en')} / ${Number(values.small).toLocaleString('en')}: ${(large / small).toFixed(2)} (target: at most 1.2)`)
} finally {
  await nc.close()
  await server.stop()
}
