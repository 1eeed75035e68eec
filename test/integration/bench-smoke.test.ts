// The benchmark script works: a quick run of two cases exits 0 and writes every figure to its
// JSON file. No timing is asserted: this is a test of the script, not of the speed.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('npm run bench --quick', () => {
  let dir: string | undefined
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('runs the throughput and deploy cases and writes their figures', async () => {
    dir = await mkdtemp(join(tmpdir(), 'jetfn-bench-'))
    const out = join(dir, 'results.json')
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', '--quick', '--runs', '1', '--cases', 'throughput,deploy', '--out', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code, stderr).toBe(0)
    expect(stdout).toMatch(/\| case\s+\| baseline\s+\| jetfn\s+\| ratio\s+\| target\s+\| result \|/)

    const report = JSON.parse(await readFile(out, 'utf8')) as { meta: Record<string, unknown>; results: Record<string, unknown>[] }
    expect(report.meta).toMatchObject({ quick: true, runs: 1, node: process.version, natsServer: expect.any(String) })
    expect(report.results.map((r) => r.case)).toEqual(['throughput', 'deploy'])
    const [throughput, deploy] = report.results as Array<{
      baseline: { value: number | null; unit: string }
      jetfn: { value: number; unit: string }
      comparison: { kind: string; value: number }
      target: string
      pass: boolean
      details: Record<string, unknown>
    }>
    expect(throughput!.baseline).toMatchObject({ value: expect.any(Number), unit: 'msg/s' })
    expect(throughput!.jetfn).toMatchObject({ value: expect.any(Number), unit: 'msg/s' })
    expect(throughput!.comparison.kind).toBe('ratio')
    expect(throughput!.details).toMatchObject({ messages: 10_000, rawRuns: [expect.any(Number)], rawPerTickRuns: [expect.any(Number)], rawThreadsRuns: [expect.any(Number)], jetfnRuns: [expect.any(Number)] })
    expect(typeof throughput!.pass).toBe('boolean')
    expect(deploy!.jetfn).toMatchObject({ value: expect.any(Number), unit: 'ms' })
    expect(deploy!.details.redeploys).toHaveLength(2)
    expect(deploy!.target).toBe('< 1000 ms')
  }, 90_000)
})
