/**
 * `fn dev` as a user runs it (`npm start`), as a real process on the example functions, against
 * a test server through NATS_URL: it deploys them, handles what the README tells the user to
 * publish, and stops cleanly with exit code 0 on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { connectTo } from '../helpers/connect.ts'
import { startServer } from '../helpers/nats-server.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
let server: NatsServerProcess
let nc: NatsConnection
let dev: ChildProcess | undefined

beforeAll(async () => {
  server = await startServer()
  nc = await connectTo(server.url)
})

afterAll(async () => {
  if (dev && dev.exitCode === null) dev.kill('SIGKILL')
  await nc?.close()
  await server?.stop()
})

it('npm start: deploys the examples, settles what the README publishes, exits 0 on SIGINT', async () => {
  dev = spawn(process.execPath, ['bin/fn.js', 'dev'], { cwd: root, env: { ...process.env, NATS_URL: server.url, NO_COLOR: '1' } })
  let output = ''
  dev.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  dev.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  await expect.poll(() => output, { timeout: 30_000 }).toContain('fn dev ready')
  expect(output).toMatch(/function deployed.*"fn":"validate-order"/)
  expect(output).toMatch(/function deployed.*"fn":"reserve-inventory"/)
  expect(output).toMatch(/function deployed.*"fn":"charge-payment"/)

  const js = jetstream(nc)
  await js.publish('orders.created', JSON.stringify({ orderId: 'o-100', customer: 'ada', items: [{ sku: 'sku-apple', qty: 2, price: 3 }] }))
  await js.publish('orders.created', JSON.stringify({ orderId: 'o-101', customer: 'bob', items: [] }))
  await js.publish('orders.created', JSON.stringify({ orderId: 'o-102', items: [] }))

  await expect.poll(() => output, { timeout: 20_000 }).toMatch(/payment charged.*"orderId":"o-100"/)
  await expect.poll(() => output, { timeout: 20_000 }).toMatch(/inventory reserved.*"orderId":"o-100"/)
  await expect.poll(() => output, { timeout: 20_000 }).toMatch(/message dead-lettered.*"fn":"reserve-inventory".*"errorKind":"non-retryable"/)
  await expect.poll(() => output, { timeout: 20_000 }).toMatch(/message dead-lettered.*"fn":"validate-order".*"errorKind":"schema"/)
  const jsm = await jetstreamManager(nc)
  // reserve-inventory and charge-payment share orders.validated: a bad message there leaves a
  // dead letter for each (ids name the function, so neither is deduplicated away).
  const bad = await js.publish('orders.validated', 'not json')
  for (const fn of ['reserve-inventory', 'charge-payment']) {
    await expect
      .poll(async () => (await jsm.streams.getMessage('FN_DLQ', { last_by_subj: `fn.dlq.${fn}` }).catch(() => null))?.header.get('Fn-Source-Seq'), { timeout: 20_000 })
      .toBe(String(bad.seq))
  }
  const charged = await jsm.streams.getMessage('PAYMENTS', { last_by_subj: 'payments.charged' })
  expect(charged!.json()).toMatchObject({ orderId: expect.stringMatching(/^o-10[01]$/) })

  dev.kill('SIGINT')
  const [code] = await once(dev, 'exit')
  expect(code).toBe(0)
  expect(output).toContain('stopping')
  expect(output).toMatch(/replica state.*"to":"stopped"/)
}, 90_000)
