/**
 * `scripts/fetch-nats-server.sh` on a fresh machine, as four test files (or `fn dev`s) starting at
 * once run it: each waits its turn on the lock in FN_HOME, one downloads, all end with the binary.
 * This downloads from Debian's archive, as a clean clone's first `npm test` does.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it } from 'vitest'

const SCRIPT = fileURLToPath(new URL('../../scripts/fetch-nats-server.sh', import.meta.url))
const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

function fetchInto(home: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT], { env: { ...process.env, FN_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

it('four fetches at once into an empty FN_HOME: all succeed with the same binary, one download', async () => {
  const home = await mkdtemp(join(tmpdir(), 'jetfn-fetch-'))
  dirs.push(home)
  const runs = await Promise.all([1, 2, 3, 4].map(() => fetchInto(home)))

  const bin = join(home, 'bin', 'nats-server')
  for (const run of runs) {
    expect(run, run.stderr).toMatchObject({ code: 0 })
    expect(run.stdout.trim().split('\n').pop()).toBe(bin)
  }
  const stderr = runs.map((r) => r.stderr).join('\n')
  expect(stderr.match(/downloading nats-server/g)).toHaveLength(1)
  expect(stderr.match(/is already there/g)).toHaveLength(3)
  expect(stderr).not.toMatch(/apt-get update .* failed|E: /)
}, 300_000)
