/**
 * The objects `fn k8s` renders, for every way a pod can authenticate, with and without KEDA:
 * each validates against the Kubernetes and KEDA schemas with no unknown field, the trigger
 * metadata is what KEDA's scaler reads, and the Dockerfile has what a replica image needs.
 */
import { describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { renderFiles } from '../../runtime/k8s/generate-k8s.ts'
import { resolveK8sOptions } from '../../runtime/k8s/k8s-options.ts'
import type { K8sSpec } from '../../runtime/k8s/k8s-spec.ts'
import { NATS_AUTH_KINDS } from '../../runtime/k8s/nats-auth-wiring.ts'
import { unknownFieldProblems, validateK8sObject } from '../helpers/k8s-schemas.ts'
import { JETSTREAM_TRIGGER_KEYS } from '../helpers/keda-jetstream-scaler.ts'

function spec(over: Partial<K8sSpec> = {}): K8sSpec {
  return {
    app: 'orders',
    version: '1.4.0',
    image: 'ghcr.io/acme/orders:1.4.0',
    namespace: undefined,
    configFile: 'fn.config.ts',
    configFlag: false,
    copyFiles: ['config/streams.ts', 'fn.config.ts'],
    outDir: 'k8s',
    httpPort: 8787,
    stopDeadlineMs: 35_000,
    auth: 'creds',
    tls: undefined,
    resources: { cpu: '2', memory: '1280Mi' },
    scaling: resolveK8sOptions({}).scaling,
    functions: [
      { name: 'notify', stream: 'ORDERS', consumer: 'fn_notify', concurrency: 8 },
      { name: 'reserve-inventory', stream: 'ORDERS', consumer: 'fn_reserve-inventory', concurrency: 16 },
    ],
    ...over,
  }
}

/** Every YAML object of the rendered files, by path. */
function objects(s: K8sSpec): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>()
  for (const f of renderFiles(s)) {
    if (!/\.ya?ml(\.example)?$/.test(f.path)) continue
    const docs = parseAllDocuments(f.text)
    expect(docs).toHaveLength(1)
    const doc = (docs as Array<{ errors: unknown[]; toJS(): unknown }>)[0]!
    expect(doc.errors).toEqual([])
    out.set(f.path, doc.toJS() as Record<string, unknown>)
  }
  return out
}

type Obj = Record<string, any>

const variants: Array<[string, K8sSpec]> = [
  ...NATS_AUTH_KINDS.map((auth): [string, K8sSpec] => [`auth ${auth}`, spec({ auth })]),
  ['mutual TLS, a namespace, a config not named fn.config.ts', spec({ tls: { caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'k.pem' }, namespace: 'shop', configFile: 'prod.config.ts', configFlag: true })],
  ['fixed replicas', spec({ scaling: resolveK8sOptions({ replicas: '3' }).scaling })],
  ['scale to zero', spec({ scaling: resolveK8sOptions({ min: '0', max: '4', activationLag: '5', account: 'ACSDPGHV7', monitoring: 'nats.nats.svc:8222' }).scaling })],
]

describe('every object, for every way a pod authenticates, with and without KEDA', () => {
  it.each(variants)('%s: validates against the Kubernetes and KEDA schemas', (_, s) => {
    for (const o of objects(s).values()) expect(() => validateK8sObject(o), `${String(o.kind)}`).not.toThrow()
  })

  it('has no field the schemas do not know', async () => {
    // One type-check for all of them: a TypeScript program takes a second to build.
    expect(await unknownFieldProblems(variants.flatMap(([, s]) => [...objects(s).values()]))).toEqual([])
  })
})

describe('the schema check', () => {
  it('catches a misspelt field and a bad quantity (so the passing checks above mean something)', async () => {
    const deployment = objects(spec()).get('k8s/deployment.yaml')! as Obj
    deployment.spec.template.spec.terminationGracePeriodSecond = 30
    expect((await unknownFieldProblems([deployment])).join('\n')).toMatch(/terminationGracePeriodSecond/)
    deployment.spec.template.spec.containers[0].resources.requests.cpu = 'two'
    expect(() => validateK8sObject(deployment)).toThrow(/cpu/)
  })
})

describe('the Deployment', () => {
  it('runs fn start --bind-only with probes, a grace period above the stop deadline, and no root', () => {
    const d = objects(spec({ namespace: 'shop' })).get('k8s/deployment.yaml')! as Obj
    const pod = d.spec.template.spec
    const c = pod.containers[0]
    expect(d.metadata.namespace).toBe('shop')
    expect(d.spec.replicas).toBeUndefined()
    expect(c.args).toEqual(['start', '--bind-only'])
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' })
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' })
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8787, protocol: 'TCP' }])
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(35)
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 })
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } })
    expect(c.volumeMounts).toContainEqual({ name: 'fn-home', mountPath: '/app/.fn' })
    expect(pod.volumes).toContainEqual({ name: 'fn-home', emptyDir: { sizeLimit: '1Gi' } })
    expect(c.resources).toEqual({ requests: { cpu: '2', memory: '1280Mi' }, limits: { memory: '1280Mi' } })
    expect(c.env).toEqual([
      { name: 'NATS_URL', valueFrom: { secretKeyRef: { name: 'orders-nats', key: 'NATS_URL' } } },
      { name: 'NATS_CREDS', value: '/etc/jetfn/nats/nats.creds' },
    ])
    expect(pod.volumes).toContainEqual({ name: 'nats-credentials', secret: { secretName: 'orders-nats', items: [{ key: 'nats.creds', path: 'nats.creds' }], defaultMode: 0o440 } })
  })

  it('passes --config for a config file not named fn.config.ts, and has a fixed size without KEDA', () => {
    const files = objects(spec({ configFile: 'prod.config.ts', configFlag: true, scaling: { kind: 'fixed', replicas: 3 } }))
    const d = files.get('k8s/deployment.yaml')! as Obj
    expect(d.spec.template.spec.containers[0].args).toEqual(['start', '--bind-only', '--config', 'prod.config.ts'])
    expect(d.spec.replicas).toBe(3)
    expect(files.has('k8s/scaledobject.yaml')).toBe(false)
  })
})

describe('the ScaledObject', () => {
  it('targets the Deployment with one nats-jetstream trigger per function, lag threshold = concurrency', () => {
    const so = objects(spec()).get('k8s/scaledobject.yaml')! as Obj
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'orders' })
    expect(so.spec).toMatchObject({ minReplicaCount: 1, maxReplicaCount: 10 })
    expect(so.spec.triggers).toEqual([
      {
        type: 'nats-jetstream',
        name: 'notify',
        metadata: { natsServerMonitoringEndpoint: 'nats-headless.nats.svc.cluster.local:8222', account: '$G', stream: 'ORDERS', consumer: 'fn_notify', lagThreshold: '8', activationLagThreshold: '0', useHttps: 'false' },
      },
      {
        type: 'nats-jetstream',
        name: 'reserve-inventory',
        metadata: { natsServerMonitoringEndpoint: 'nats-headless.nats.svc.cluster.local:8222', account: '$G', stream: 'ORDERS', consumer: 'fn_reserve-inventory', lagThreshold: '16', activationLagThreshold: '0', useHttps: 'false' },
      },
    ])
    // Only keys the scaler reads, integers where it parses int64.
    for (const t of so.spec.triggers) {
      for (const key of Object.keys(t.metadata)) expect(JETSTREAM_TRIGGER_KEYS).toContain(key)
      expect(t.metadata.lagThreshold).toMatch(/^[1-9]\d*$/)
    }
  })

  it('allows scale to zero, and keeps a replica up when the monitoring endpoint cannot be read', () => {
    const so = objects(spec({ scaling: resolveK8sOptions({ min: '0', activationLag: '5' }).scaling })).get('k8s/scaledobject.yaml')! as Obj
    expect(so.spec.minReplicaCount).toBe(0)
    expect(so.spec.fallback).toEqual({ failureThreshold: 3, replicas: 1 })
    expect(so.spec.triggers[0].metadata.activationLagThreshold).toBe('5')
  })
})

describe('the Secret template', () => {
  it('names every key the pod reads, with placeholders only, in a file kubectl apply -f <dir> skips', () => {
    const files = renderFiles(spec({ auth: 'user', tls: { caFile: 'ca.pem' } }))
    const template = files.find((f) => f.path.endsWith('secret.yaml.example'))!
    expect(template.path).toBe('k8s/secret.yaml.example')
    const secret = objects(spec({ auth: 'user', tls: { caFile: 'ca.pem' } })).get('k8s/secret.yaml.example')! as Obj
    expect(Object.keys(secret.stringData)).toEqual(['NATS_URL', 'NATS_USER', 'NATS_PASSWORD', 'ca.crt'])
    expect(Object.values(secret.stringData).slice(1)).toEqual(['<user>', '<password>', expect.stringMatching(/^<.*>$/)])
    expect(template.text).toContain('kubectl create secret generic orders-nats --from-literal=NATS_URL=')
  })
})

describe('the Dockerfile', () => {
  const text = renderFiles(spec()).find((f) => f.path === 'Dockerfile')!.text
  const instructions = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'))

  it('builds a non-root node:20-slim image of the runtime dependencies and the config, run in exec form', () => {
    expect(instructions[0]).toBe('FROM node:20-slim')
    expect(instructions).toContain('COPY package.json package-lock.json ./')
    expect(instructions.find((l) => l.startsWith('RUN npm ci'))).toMatch(/^RUN npm ci --omit=dev\b/)
    expect(instructions).toContain('COPY ["fn.config.ts", "fn.config.ts"]')
    expect(instructions).toContain('COPY ["config/streams.ts", "config/streams.ts"]')
    // The user switch comes after every step that needs root, before the process starts.
    expect(instructions.indexOf('USER node')).toBeGreaterThan(instructions.findIndex((l) => l.startsWith('RUN mkdir')))
    expect(instructions).toContain('STOPSIGNAL SIGTERM')
    const entry = instructions.find((l) => l.startsWith('ENTRYPOINT '))!
    const cmd = instructions.find((l) => l.startsWith('CMD '))!
    // Exec form (JSON arrays): node is PID 1 and receives SIGTERM, not a shell.
    expect(JSON.parse(entry.slice('ENTRYPOINT '.length))).toEqual(['node', 'node_modules/jetfn/bin/fn.js'])
    expect(JSON.parse(cmd.slice('CMD '.length))).toEqual(['start', '--bind-only'])
    // The functions are not in the image: replicas load them from the registry.
    expect(text).not.toMatch(/COPY .*functions/)
  })

  it('is kept from credentials and build output by .dockerignore', () => {
    const ignore = renderFiles(spec()).find((f) => f.path === '.dockerignore')!.text.split('\n')
    for (const entry of ['**/node_modules', '.fn', 'k8s', '.env', '*.creds', '*.nk']) expect(ignore).toContain(entry)
  })
})

describe('fn k8s flags', () => {
  it('refuses bad values with one line per flag', () => {
    expect(() => resolveK8sOptions({ min: '3', max: '2', namespace: 'Shop', cpu: 'lots', monitoring: 'http://nats:8222' })).toThrow(
      [
        "--namespace must be a Kubernetes namespace: lowercase letters, digits and -, at most 63 (got 'Shop')",
        "--cpu must be a Kubernetes CPU quantity like '500m' or '2' (got 'lots')",
        '--min must not exceed --max (got min 3, max 2)',
        "--monitoring must be host:port of the NATS monitoring endpoint, without a scheme (add --monitoring-https for https) (got 'http://nats:8222')",
      ].join('\n'),
    )
    expect(() => resolveK8sOptions({ replicas: '2', min: '0' })).toThrow('--min cannot be combined with --replicas')
    expect(() => resolveK8sOptions({ auth: 'password' })).toThrow("--auth must be one of creds, token, user, nkey, none (got 'password')")
  })
})
