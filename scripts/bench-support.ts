/**
 * Pieces the benchmark scripts share: a throwaway project with a no-op function, filling a
 * backlog fast, waiting for a consumer to drain, and running the CLI.
 */
import { spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'

export interface BenchProject {
  dir: string
  configFile: string
}

/** A project under `<root>/.fn/bench/<stream>` with one no-op function `ok` on `<stream>.in`. */
export async function writeBenchProject(root: string, stream: string, opts: { concurrency: number; body?: string }): Promise<BenchProject> {
  const dir = join(root, '.fn', 'bench', stream)
  await mkdir(join(dir, 'functions'), { recursive: true })
  await writeFile(
    join(dir, 'functions', 'ok.ts'),
    `import { defineFunction } from 'jetfn'\nexport default defineFunction({ subject: '${stream}.in', concurrency: ${opts.concurrency}, async handler() { ${opts.body ?? ''} } })\n`,
  )
  const configFile = join(dir, 'fn.config.ts')
  await writeFile(configFile, `import { defineConfig } from 'jetfn'\nexport default defineConfig({ functionsDir: ${JSON.stringify(join(dir, 'functions'))}, http: { port: 0 } })\n`)
  return { dir, configFile }
}

/** Core publishes with a flush every 1,000: about 4x js.publish (NATS-NOTES). */
export async function fill(nc: NatsConnection, subject: string, n: number, payload = '{"orderId":"o-123456","items":[{"sku":"sku-apple","qty":2}]}'): Promise<void> {
  for (let i = 0; i < n; i++) {
    nc.publish(subject, payload)
    if (i % 1000 === 999) await nc.flush()
  }
  await nc.flush()
}

/** Resolves once the consumer has nothing pending and nothing unacked. */
export async function waitDrained(jsm: JetStreamManager, stream: string, consumer: string): Promise<void> {
  for (;;) {
    try {
      const info = await jsm.consumers.info(stream, consumer)
      if (info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq > 0) return
    } catch {
      // The replica has not created its consumer yet.
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Runs `node bin/fn.js <args>` to completion. */
export function runCli(root: string, args: string[], url: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/fn.js', ...args], { cwd: root, env: { ...process.env, NATS_URL: url }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stderr }))
  })
}
