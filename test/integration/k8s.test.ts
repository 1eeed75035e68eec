/**
 * `fn k8s` as a user runs it in a project: what it prints, the files it writes (every object
 * valid against the Kubernetes and KEDA schemas), that a re-run is byte-for-byte the same and
 * touches only its own files, and that it refuses what cannot work or would leak a credential.
 * Streams are all in fn.config.ts, so no server is needed (k8s-keda-cluster.test.ts has one).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { writeDevProject, type DevProject } from '../helpers/dev-process.ts'
import { runFnIn, type FnResult } from '../helpers/fn-process.ts'
import { unknownFieldProblems, validateK8sObject } from '../helpers/k8s-schemas.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { generateK8s } from '../../runtime/k8s/generate-k8s.ts'

const projects: DevProject[] = []
afterEach(async () => {
  await Promise.all(projects.splice(0).map((p) => p.remove()))
})

function fnSource(subject: string, concurrency: number): string {
  return `import { defineFunction } from 'jetfn'\n\nexport default defineFunction({ subject: '${subject}', concurrency: ${concurrency}, async handler() {} })\n`
}

interface ProjectSpec {
  config?: Record<string, unknown>
  /** Source of fn.config.ts, instead of one made from `config`. */
  configSource?: string
  pkg?: Record<string, unknown>
}

/** A project with package.json, a lockfile, two functions and a stream for them. */
async function k8sProject(spec: ProjectSpec = {}): Promise<{ project: DevProject; prefix: string }> {
  const prefix = uniquePrefix()
  const project = await writeDevProject({
    prefix,
    config: spec.config ?? { streams: [{ name: 'ORDERS', subjects: ['orders.>'], replicas: 3 }], pool: { threads: 2 }, shutdownGrace: '20s' },
    functions: { 'reserve-inventory.ts': fnSource('orders.created', 16), 'notify.ts': fnSource('orders.shipped', 8) },
  })
  projects.push(project)
  if (spec.configSource) await writeFile(project.configFile, spec.configSource)
  await writeFile(join(project.dir, 'package.json'), JSON.stringify(spec.pkg ?? { name: '@acme/orders', version: '1.4.0', dependencies: { jetfn: '^0.1.0' } }))
  await writeFile(join(project.dir, 'package-lock.json'), '{}\n')
  return { project, prefix }
}

/** Every file fn k8s may write, with its text. */
async function written(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const f of ['Dockerfile', '.dockerignore']) out[f] = await readFile(join(dir, f), 'utf8')
  for (const f of (await readdir(join(dir, 'k8s'))).sort()) out[`k8s/${f}`] = await readFile(join(dir, 'k8s', f), 'utf8')
  return out
}

function yamlObjects(files: Record<string, string>): Array<Record<string, unknown>> {
  return Object.entries(files)
    .filter(([path]) => path.startsWith('k8s/'))
    .flatMap(([, text]) => parseAllDocuments(text).map((d) => (d as { toJS(): unknown }).toJS() as Record<string, unknown>))
}

function outcomes(result: FnResult): string[] {
  return result.stdout.split('\n').filter((l) => /^ {2}(created|updated|unchanged|removed|skipped)\s/.test(l)).map((l) => l.trim().replace(/\s+/, ' '))
}

describe('fn k8s', () => {
  it('writes a Deployment, a ScaledObject, a Secret template and a Dockerfile that validate, and says so', async () => {
    const { project } = await k8sProject()
    const run = await runFnIn(project.dir, ['k8s', '--image', 'ghcr.io/acme/orders:1.4.0', '--namespace', 'shop', '--auth', 'creds'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toBe('')
    expect(outcomes(run)).toEqual(['created Dockerfile', 'created .dockerignore', 'created k8s/deployment.yaml', 'created k8s/scaledobject.yaml', 'created k8s/secret.yaml.example'])
    expect(run.stdout).toContain('fn k8s: acme-orders (image ghcr.io/acme/orders:1.4.0; KEDA, 1..10 replicas on the backlog of 2 function(s); auth creds):')
    expect(run.stdout).toContain('kubectl apply -n shop -f k8s/')
    expect(run.stdout).toContain('docker build -t ghcr.io/acme/orders:1.4.0 . && docker push ghcr.io/acme/orders:1.4.0')
    // jetfn reads NATS_CREDS itself: the config needs no line for it, and the user is told none.
    expect(run.stdout).not.toContain('does not read')

    const files = await written(project.dir)
    const objects = yamlObjects(files)
    expect(objects.map((o) => o.kind)).toEqual(['Deployment', 'ScaledObject', 'Secret'])
    for (const o of objects) {
      validateK8sObject(o)
      expect(o).toMatchObject({ metadata: { namespace: 'shop', labels: { 'app.kubernetes.io/name': 'acme-orders' } } })
    }
    expect(await unknownFieldProblems(objects)).toEqual([])
    const [deployment, scaled] = objects as Array<Record<string, any>>
    expect(deployment!.spec.template.spec.terminationGracePeriodSeconds).toBe(30)
    expect(deployment!.spec.template.spec.containers[0].resources.requests).toEqual({ cpu: '2', memory: '1280Mi' })
    expect(scaled!.spec.triggers.map((t: { name: string; metadata: { consumer: string; lagThreshold: string; stream: string } }) => [t.name, t.metadata.stream, t.metadata.consumer, t.metadata.lagThreshold])).toEqual([
      ['notify', 'ORDERS', 'fn_notify', '8'],
      ['reserve-inventory', 'ORDERS', 'fn_reserve-inventory', '16'],
    ])
    expect(files.Dockerfile).toMatch(/^COPY \["fn\.config\.ts", "fn\.config\.ts"\]$/m)
  })

  it('writes the same bytes again, rewrites only what changed, and removes what it no longer writes', async () => {
    const { project } = await k8sProject()
    expect((await runFnIn(project.dir, ['k8s'])).code).toBe(0)
    const first = await written(project.dir)

    const again = await runFnIn(project.dir, ['k8s'])
    expect(outcomes(again)).toEqual(['unchanged Dockerfile', 'unchanged .dockerignore', 'unchanged k8s/deployment.yaml', 'unchanged k8s/scaledobject.yaml', 'unchanged k8s/secret.yaml.example'])
    expect(await written(project.dir)).toEqual(first)

    await writeFile(join(project.functionsDir, 'notify.ts'), fnSource('orders.shipped', 32))
    const changed = await runFnIn(project.dir, ['k8s'])
    expect(outcomes(changed)).toContain('updated k8s/scaledobject.yaml')
    expect(outcomes(changed).filter((o) => o.startsWith('updated'))).toEqual(['updated k8s/scaledobject.yaml'])

    const fixed = await runFnIn(project.dir, ['k8s', '--replicas', '3'])
    expect(outcomes(fixed)).toEqual(expect.arrayContaining(['updated k8s/deployment.yaml', 'removed k8s/scaledobject.yaml']))
    expect(fixed.stdout).toContain('3 replica(s), no KEDA')
    expect(Object.keys(await written(project.dir))).not.toContain('k8s/scaledobject.yaml')
  })

  it("leaves a file it did not write alone, unless --force", async () => {
    const { project } = await k8sProject()
    const own = 'FROM node:22\nCMD ["node", "server.js"]\n'
    await writeFile(join(project.dir, 'Dockerfile'), own)
    const run = await runFnIn(project.dir, ['k8s'])
    expect(run.code).toBe(0)
    expect(outcomes(run)[0]).toBe('skipped Dockerfile: not written by fn k8s (its first line is not the marker); --force overwrites it')
    expect(await readFile(join(project.dir, 'Dockerfile'), 'utf8')).toBe(own)

    const forced = await runFnIn(project.dir, ['k8s', '--force'])
    expect(outcomes(forced)[0]).toBe('updated Dockerfile')
    expect(await readFile(join(project.dir, 'Dockerfile'), 'utf8')).toMatch(/^# Generated by fn k8s/)
  })

  it('never writes a credential: one read from the environment stays out of every file and line', async () => {
    const secret = `tok-${uniquePrefix()}`
    const { project } = await k8sProject({
      configSource: `import { defineConfig } from 'jetfn'\nexport default defineConfig({ nats: { token: process.env.NATS_TOKEN }, streams: [{ name: 'ORDERS', subjects: ['orders.>'] }] })\n`,
    })
    const run = await runFnIn(project.dir, ['k8s'], { NATS_TOKEN: secret })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('auth token')
    const files = await written(project.dir)
    expect(Object.values(files).join('\n') + run.stdout + run.stderr).not.toContain(secret)
    const deployment = yamlObjects(files)[0] as Record<string, any>
    expect(deployment.spec.template.spec.containers[0].env).toContainEqual({ name: 'NATS_TOKEN', valueFrom: { secretKeyRef: { name: 'acme-orders-nats', key: 'NATS_TOKEN' } } })
    // pool.threads unset: the pod would size its pool by the node's CPUs.
    expect(run.stdout).toMatch(/pool\.threads is not set in fn\.config\.ts: in a pod it defaults to the node's CPU count/)
  })

  it('refuses a credential written in fn.config.ts, printing one line without it, and writes nothing', async () => {
    const secret = `s3cr3t-${uniquePrefix()}`
    const literal = await k8sProject({ configSource: `import { defineConfig } from 'jetfn'\nexport default defineConfig({ nats: { token: '${secret}' } })\n` })
    const leak = await runFnIn(literal.project.dir, ['k8s'])
    expect(leak.code).toBe(1)
    expect(leak.stderr).toContain("FN_K8S_FAILED: fn.config.ts: 'nats.token' is written in the file, and the image would carry it")
    expect(leak.stderr).toContain('hint: remove it from the file: the Deployment sets NATS_TOKEN from the Secret, and jetfn reads that itself')
    expect(leak.stdout + leak.stderr).not.toContain(secret)
    expect(await readdir(literal.project.dir)).not.toContain('Dockerfile')
  })

  // The same refusals in-process: the CLI path is the one above; each process costs seconds.
  it.each([
    ['credentials in a server URL', { config: { nats: { servers: ['nats://app:hunter2-secret@nats.example.com:4222'] } } }, "fn.config.ts: 'nats.servers' has credentials in a URL, and the image would carry them"],
    ['a dashboard token written in the file', { config: { http: { token: 'hunter2-dashboard-token' } } }, "fn.config.ts: 'http.token' is written in the file, and the image would carry it"],
    ['a disabled health port', { config: { http: { port: 0 } } }, "fn.config.ts: 'http.port' is 0: the Deployment's probes need /healthz and /readyz"],
    ['jetfn as a dev dependency', { pkg: { name: 'orders', version: '1.0.0', devDependencies: { jetfn: '^0.1.0' } } }, `package.json: 'jetfn' must be in "dependencies" (it is in "devDependencies")`],
  ] as Array<[string, ProjectSpec, string]>)('refuses %s', async (_, spec, message) => {
    const { project } = await k8sProject(spec)
    const err = await generateK8s({ cwd: project.dir, flags: {}, stopMarginMs: 5_000, env: {} }).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'FN_K8S_FAILED', message: expect.stringContaining(message) })
    expect((err as Error).message).not.toContain('hunter2')
    expect(await readdir(project.dir)).not.toContain('Dockerfile')
  })
})
