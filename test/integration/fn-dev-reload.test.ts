/**
 * `fn dev` hot reload as a user sees it: saving a file in functions/ redeploys it, and the next
 * message runs the new code; saving a broken file keeps the old version serving.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import { connectTo } from '../helpers/connect.ts'
import { spawnDev, writeDevProject, type DevProcess, type DevProject } from '../helpers/dev-process.ts'
import { startServer, uniquePrefix } from '../helpers/nats-server.ts'

let server: NatsServerProcess
let nc: NatsConnection
let jsm: JetStreamManager
let project: DevProject | undefined
let dev: DevProcess | undefined

beforeAll(async () => {
  server = await startServer()
  nc = await connectTo(server.url)
  jsm = await jetstreamManager(nc)
})

afterAll(async () => {
  await dev?.[Symbol.asyncDispose]()
  await project?.remove()
  await nc?.close()
  await server?.stop()
})

const source = (prefix: string, tag: string) => `import { defineFunction } from 'jetfn'
export default defineFunction({
  name: 'hello',
  subject: '${prefix}.in.hello',
  async handler(event, ctx) {
    const { id } = event.data as { id: string }
    ctx.publish('${prefix}.out.' + id, { tag: '${tag}' })
  },
})
`

it('saving a function file redeploys it; the next message runs the new code; a broken save keeps the old code', async () => {
  const prefix = uniquePrefix()
  project = await writeDevProject({
    prefix,
    config: { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], pool: { threads: 1 } },
    functions: { 'hello.ts': source(prefix, 'first') },
  })
  dev = spawnDev(project, { url: server.url })
  await dev.waitFor(/fn dev ready/)
  const js = jetstream(nc)
  const tagOf = async (id: string) => {
    await js.publish(`${prefix}.in.hello`, JSON.stringify({ id }))
    let tag: string | undefined
    await expect
      .poll(async () => {
        const m = await jsm.streams.getMessage(prefix, { last_by_subj: `${prefix}.out.${id}` }).catch(() => null)
        tag = m?.json<{ tag: string }>().tag
        return tag !== undefined
      }, { timeout: 15_000 })
      .toBe(true)
    return tag
  }
  expect(await tagOf('1')).toBe('first')

  await writeFile(join(project.functionsDir, 'hello.ts'), source(prefix, 'second'))
  await dev.waitFor(/function deployed .*"fn":"hello".*"status":"updated"/)
  expect(await tagOf('2')).toBe('second')

  await writeFile(join(project.functionsDir, 'hello.ts'), 'export default {\n')
  await dev.waitFor(/function not deployed .*"file":"hello\.ts".*build failed/)
  expect(await tagOf('3')).toBe('second')
})
