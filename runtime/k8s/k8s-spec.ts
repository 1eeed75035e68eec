/**
 * Everything the Kubernetes manifests and the Dockerfile are made from, decided: the manifests
 * are pure functions of a {@link K8sSpec}, so the same project and flags always give the same bytes.
 */
import type { ResolvedConfig } from '../config/config-schema.ts'
import type { K8sScaling } from './k8s-options.ts'
import type { NatsAuthKind } from './nats-auth-wiring.ts'

/** One function as the ScaledObject scales on it. */
export interface K8sFunction {
  name: string
  /** The stream its consumer reads. */
  stream: string
  /** Durable consumer name, `fn_<name>`. */
  consumer: string
  /** Messages in flight at once in one replica: the backlog one replica takes (`lagThreshold`). */
  concurrency: number
}

/** What the manifests are made from. */
export interface K8sSpec {
  /** Name of the Deployment and ScaledObject; prefix of the Secret. */
  app: string
  /** `app.kubernetes.io/version` label (the package version), if known. */
  version: string | undefined
  image: string
  namespace: string | undefined
  /** The config file in the image, relative to the workdir (`fn.config.ts`). */
  configFile: string
  /** Whether `--config <file>` must be passed (the config is not `fn.config.ts`). */
  configFlag: boolean
  /** Project files the image needs besides package.json and the lockfile, sorted. */
  copyFiles: string[]
  /** The output directory, relative to the project (for .dockerignore). */
  outDir: string
  /** Port of `/healthz`, `/readyz`, `/metrics`. */
  httpPort: number
  /** How long a replica may take to stop after SIGTERM before it exits on its own, ms. */
  stopDeadlineMs: number
  auth: NatsAuthKind
  tls: ResolvedConfig['nats']['tls']
  resources: { cpu: string; memory: string }
  scaling: K8sScaling
  /** Sorted by name. */
  functions: K8sFunction[]
}

/** Labels on every object, and (the first two) the Deployment's selector. */
export function k8sLabels(spec: Pick<K8sSpec, 'app' | 'version'>): Record<string, string> {
  return {
    'app.kubernetes.io/name': spec.app,
    'app.kubernetes.io/component': 'replica',
    'app.kubernetes.io/managed-by': 'jetfn',
    ...(spec.version ? { 'app.kubernetes.io/version': spec.version } : {}),
  }
}

/** The labels a Deployment selects its pods by: never changes for an app (selectors are immutable). */
export function k8sSelector(spec: Pick<K8sSpec, 'app'>): Record<string, string> {
  return { 'app.kubernetes.io/name': spec.app, 'app.kubernetes.io/component': 'replica' }
}

/** Name of the Secret with the NATS URL and credentials. */
export function secretName(spec: Pick<K8sSpec, 'app'>): string {
  return `${spec.app}-nats`
}

/** `metadata` of an object of the app. */
export function objectMeta(spec: Pick<K8sSpec, 'app' | 'version' | 'namespace'>, name: string): Record<string, unknown> {
  return { name, ...(spec.namespace ? { namespace: spec.namespace } : {}), labels: k8sLabels(spec) }
}
