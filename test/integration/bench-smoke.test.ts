// The benchmark script works: a quick run of two cases and the peers exits 0 and writes every
// figure to its JSON file. No timing is asserted: this is a test of the script, not of the speed.
// BullMQ needs redis-server: where it is not installed its row says how to install it.
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

  it('runs the throughput and deploy cases with --peers and writes their figures and the targets', async () => {
    dir = await mkdtemp(join(tmpdir(), 'jetfn-bench-'))
    const out = join(dir, 'results.json')
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', '--quick', '--runs', '1', '--cases', 'throughput,deploy', '--peers', '--out', out], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code, stderr).toBe(0)
    expect(stdout).toMatch(/\| case\s+\| baseline\s+\| jetfn\s+\| ratio\s+\| target\s+\| result \|/)

    expect(stdout).toMatch(/\| issue 19 target\s+\| measured\s+\| target\s+\| result\s+\|/)

    const report = JSON.parse(await readFile(out, 'utf8')) as { meta: Record<string, unknown>; results: Record<string, unknown>[]; targets: Record<string, unknown>[] }
    expect(report.meta).toMatchObject({ quick: true, runs: 1, node: process.version, natsServer: expect.any(String) })
    expect(report.results.map((r) => r.case)).toEqual(['throughput', 'peer-piscina', 'peer-bullmq', 'deploy'])
    const [throughput, piscina, bullmq, deploy] = report.results as Array<{
      baseline: { value: number | null; unit: string }
      jetfn: { value: number; unit: string }
      comparison: { kind: string; value: number }
      target: string
      pass: boolean | null
      details: Record<string, unknown>
    }>
    expect(throughput!.baseline).toMatchObject({ value: expect.any(Number), unit: 'msg/s' })
    expect(throughput!.jetfn).toMatchObject({ value: expect.any(Number), unit: 'msg/s' })
    expect(throughput!.comparison.kind).toBe('ratio')
    expect(throughput!.details).toMatchObject({ messages: 10_000, rawRuns: [expect.any(Number)], rawPerTickRuns: [expect.any(Number)], rawThreadsRuns: [expect.any(Number)], jetfnRuns: [expect.any(Number)] })
    expect(typeof throughput!.pass).toBe('boolean')
    expect(throughput!.details).toMatchObject({ rawCpuUsPerMsgRuns: [expect.any(Number)], jetfnCpuUsPerMsgRuns: [expect.any(Number)] })
    expect(piscina!).toMatchObject({ baseline: { value: expect.any(Number), unit: 'msg/s' }, comparison: { kind: 'ratio' }, target: '>= 1.0x', pass: expect.any(Boolean) })
    if (bullmq!.baseline.value === null) expect(bullmq!.details.missing).toMatch(/apt-get install redis-server/)
    else expect(bullmq!).toMatchObject({ baseline: { value: expect.any(Number), unit: 'msg/s' }, pass: null })
    // Every target of issue 19, those of cases not run marked not measured.
    expect(report.targets.map((t) => t.goal)).toEqual(['<= 1.5x', '>= 0.8x', '>= 0.8x', '<= raw + 5 ms', '>= 1.8x', '<= 1.1x', '>= 1.0x', '-'])
    expect(report.targets[1]).toMatchObject({ measured: expect.stringMatching(/not measured: --cases cold/), met: null })
    expect(report.targets[2]).toMatchObject({ target: expect.stringMatching(/default concurrency/), measured: expect.stringMatching(/not measured: --cases cold/), met: null })
    expect(typeof report.targets[0]!.met).toBe('boolean')
    expect(deploy!.jetfn).toMatchObject({ value: expect.any(Number), unit: 'ms' })
    expect(deploy!.details.redeploys).toHaveLength(2)
    expect(deploy!.target).toBe('< 1000 ms')
  }, 150_000)
})
