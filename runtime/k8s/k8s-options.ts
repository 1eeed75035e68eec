/**
 * The options of `fn k8s`, as its flags give them (strings), validated and resolved: replica
 * bounds, the KEDA trigger's monitoring endpoint and account, resources, the NATS auth wiring.
 * Every error names the flag and quotes the value.
 */
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { NATS_AUTH_KINDS, type NatsAuthKind } from './nats-auth-wiring.ts'

/** Where the manifests go when `--out` is not given, relative to the project. */
export const DEFAULT_K8S_OUT_DIR = 'k8s'
/** `--min` default: one replica stays up (KEDA's `minReplicaCount`). */
export const DEFAULT_MIN_REPLICAS = 1
/** `--max` default (KEDA's `maxReplicaCount`). */
export const DEFAULT_MAX_REPLICAS = 10
/**
 * `--monitoring` default: the headless service of the official NATS Helm chart (release `nats` in
 * namespace `nats`), port 8222. Headless because in a cluster KEDA's scaler reaches each node as
 * `<node>.<this host>` to find the consumer's leader.
 */
export const DEFAULT_MONITORING_ENDPOINT = 'nats-headless.nats.svc.cluster.local:8222'
/** `--account` default: the global account of a server without accounts. */
export const DEFAULT_ACCOUNT = '$G'

/** The flags of `fn k8s`, as written on the command line. */
export interface K8sFlags {
  out?: string | undefined
  image?: string | undefined
  namespace?: string | undefined
  name?: string | undefined
  min?: string | undefined
  max?: string | undefined
  replicas?: string | undefined
  monitoring?: string | undefined
  monitoringHttps?: boolean | undefined
  account?: string | undefined
  activationLag?: string | undefined
  cpu?: string | undefined
  memory?: string | undefined
  auth?: string | undefined
  force?: boolean | undefined
}

/** How the Deployment is scaled. */
export type K8sScaling =
  | {
      kind: 'keda'
      /** `minReplicaCount`; 0 lets KEDA scale the Deployment to zero when no function has a backlog. */
      min: number
      /** `maxReplicaCount`. */
      max: number
      /** `natsServerMonitoringEndpoint`: host:port of nats-server's HTTP monitoring, no scheme. */
      monitoring: string
      /** `useHttps`: the monitoring endpoint speaks HTTPS. */
      useHttps: boolean
      /** `account`: the NATS account name (or public key in operator mode) of the streams. */
      account: string
      /** `activationLagThreshold`: messages of backlog above which a function wakes a Deployment at zero. */
      activationLag: number
    }
  | {
      kind: 'fixed'
      /** `spec.replicas` of the Deployment; no ScaledObject. */
      replicas: number
    }

/** `fn k8s` options, resolved. Unset optional fields are decided from the project. */
export interface K8sOptions {
  /** Output directory of the YAML files, as given (relative to the project). Default `k8s`. */
  outDir: string
  /** The image reference. Default (decided later): `<package name>:<package version>`. */
  image: string | undefined
  /** `metadata.namespace` of every object. Default: none (kubectl's current namespace). */
  namespace: string | undefined
  /** Name of the Deployment, ScaledObject and Secret prefix. Default (decided later): from the package name. */
  name: string | undefined
  scaling: K8sScaling
  /** CPU request (a Kubernetes quantity). Default (decided later): `pool.threads`, else 1. */
  cpu: string | undefined
  /** Memory request and limit (a Kubernetes quantity). Default (decided later): from the pool's heap limits. */
  memory: string | undefined
  /** How the pod authenticates to NATS. Default (decided later): the method `fn.config.ts` uses. */
  auth: NatsAuthKind | undefined
  /** Overwrite files that exist and were not written by `fn k8s`. Default false. */
  force: boolean
}

// RFC 1123 label, as Kubernetes requires of namespaces and recommends for names pods derive from.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
// A Kubernetes quantity (`500m`, `2`, `1.5Gi`, `512Mi`), positive.
const QUANTITY = /^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/

/**
 * Validates and resolves the flags of `fn k8s`.
 *
 * @throws {FnError} `FN_USAGE_INVALID`, one line per flag at fault.
 */
export function resolveK8sOptions(flags: K8sFlags): K8sOptions {
  const problems: string[] = []
  const got = (v: string) => `(got '${v}')`
  const check = (flag: string, value: string | undefined, ok: (v: string) => boolean, rule: string): string | undefined => {
    if (value === undefined) return undefined
    if (!ok(value)) problems.push(`--${flag} ${rule} ${got(value)}`)
    return value
  }
  const count = (flag: string, value: string | undefined, min: number): number | undefined => {
    if (value === undefined) return undefined
    const n = Number(value)
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
      problems.push(`--${flag} must be a whole number of at least ${min} ${got(value)}`)
      return undefined
    }
    return n
  }

  const outDir = check('out', flags.out, (v) => v.trim() !== '', 'must name a directory') ?? DEFAULT_K8S_OUT_DIR
  const image = check('image', flags.image, (v) => /^[^\s]+$/.test(v) && !v.startsWith('-'), 'must be an image reference like ghcr.io/acme/orders:1.0.0')
  const namespace = check('namespace', flags.namespace, (v) => DNS_LABEL.test(v) && v.length <= 63, 'must be a Kubernetes namespace: lowercase letters, digits and -, at most 63')
  const name = check('name', flags.name, (v) => DNS_LABEL.test(v) && v.length <= 63, 'must be lowercase letters, digits and -, starting and ending with a letter or digit, at most 63')
  const cpu = check('cpu', flags.cpu, (v) => QUANTITY.test(v) && Number.parseFloat(v) > 0, "must be a Kubernetes CPU quantity like '500m' or '2'")
  const memory = check('memory', flags.memory, (v) => QUANTITY.test(v) && Number.parseFloat(v) > 0, "must be a Kubernetes memory quantity like '512Mi' or '2Gi'")
  const auth = check('auth', flags.auth, (v) => (NATS_AUTH_KINDS as readonly string[]).includes(v), `must be one of ${NATS_AUTH_KINDS.join(', ')}`) as NatsAuthKind | undefined

  let scaling: K8sScaling
  const replicas = count('replicas', flags.replicas, 1)
  if (flags.replicas !== undefined) {
    const keda = (['min', 'max', 'monitoring', 'monitoringHttps', 'account', 'activationLag'] as const).filter((k) => flags[k] !== undefined)
    for (const k of keda) problems.push(`--${kebab(k)} cannot be combined with --replicas: --replicas writes a fixed-size Deployment and no KEDA ScaledObject`)
    scaling = { kind: 'fixed', replicas: replicas ?? 1 }
  } else {
    const min = count('min', flags.min, 0) ?? DEFAULT_MIN_REPLICAS
    const max = count('max', flags.max, 1) ?? DEFAULT_MAX_REPLICAS
    if (min > max) problems.push(`--min must not exceed --max (got min ${min}, max ${max})`)
    const monitoring =
      check('monitoring', flags.monitoring, (v) => /^[A-Za-z0-9.-]+:\d{1,5}$/.test(v) || /^\[[0-9A-Fa-f:]+\]:\d{1,5}$/.test(v), 'must be host:port of the NATS monitoring endpoint, without a scheme (add --monitoring-https for https)') ??
      DEFAULT_MONITORING_ENDPOINT
    const account = check('account', flags.account, (v) => v.trim() !== '' && !/\s/.test(v), 'must be an account name or public key') ?? DEFAULT_ACCOUNT
    const activationLag = count('activation-lag', flags.activationLag, 0) ?? 0
    scaling = { kind: 'keda', min, max, monitoring, useHttps: flags.monitoringHttps ?? false, account, activationLag }
  }
  if (problems.length > 0) throw new FnError(FnErrorCode.UsageInvalid, problems.join('\n'), { hint: 'run `fn k8s --help`' })
  return { outDir, image, namespace, name, scaling, cpu, memory, auth, force: flags.force ?? false }
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}
