/**
 * The Deployment of replicas: pods of `fn start --bind-only` that load every deployed function from
 * the registry, so the image holds only the runtime, its dependencies and `fn.config.ts`.
 */
import { natsSecretEntries, NATS_SECRET_DIR, NATS_TLS_DIR } from './nats-auth-wiring.ts'
import { k8sLabels, k8sSelector, objectMeta, secretName, type K8sSpec } from './k8s-spec.ts'

/** The image's working directory: the project, with node_modules. */
export const IMAGE_WORKDIR = '/app'
/** The replica's writable home (bundle and compiled-config cache): `.fn` under the working directory. */
export const IMAGE_HOME = `${IMAGE_WORKDIR}/.fn`
/** The `fn` CLI inside the image. */
export const IMAGE_FN_BIN = 'node_modules/jetfn/bin/fn.js'
/** uid and gid of the `node` user of the official node images. */
export const IMAGE_USER_ID = 1000
/** Seconds past the replica's own stop deadline before the kubelet sends SIGKILL. */
const KILL_MARGIN_S = 5
const CONTAINER = 'replica'

/** `fn start --bind-only` and, for a config file not named `fn.config.ts`, `--config`. */
export function replicaArgs(spec: Pick<K8sSpec, 'configFile' | 'configFlag'>): string[] {
  return ['start', '--bind-only', ...(spec.configFlag ? ['--config', spec.configFile] : [])]
}

export function deploymentManifest(spec: K8sSpec): Record<string, unknown> {
  const entries = natsSecretEntries(spec.auth, spec.tls)
  const secret = secretName(spec)
  const env = entries.map((e) =>
    e.file !== undefined
      ? { name: e.env, value: e.file }
      : { name: e.env, valueFrom: { secretKeyRef: { name: secret, key: e.key } } },
  )
  const fileVolume = (name: string, dir: string) => {
    const items = entries.filter((e) => e.file?.startsWith(`${dir}/`)).map((e) => ({ key: e.key, path: e.file!.slice(dir.length + 1) }))
    return items.length === 0 ? undefined : { name, dir, items }
  }
  const secretVolumes = [fileVolume('nats-credentials', NATS_SECRET_DIR), fileVolume('nats-tls', NATS_TLS_DIR)].filter((v) => v !== undefined)
  const httpGet = (path: string) => ({ path, port: 'http' })
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: objectMeta(spec, spec.app),
    spec: {
      // With KEDA the HPA it creates owns the replica count; a count here would fight it on every apply.
      ...(spec.scaling.kind === 'fixed' ? { replicas: spec.scaling.replicas } : {}),
      selector: { matchLabels: k8sSelector(spec) },
      // Replicas share each function's consumer: a new pod is ready before an old one goes, so a
      // rollout never lowers throughput; an old pod's unfinished messages are nak'd on SIGTERM.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: k8sLabels(spec),
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(spec.httpPort), 'prometheus.io/path': '/metrics' },
        },
        spec: {
          // SIGTERM: stop fetching, finish in-flight work within shutdownGrace, nak the rest, exit.
          terminationGracePeriodSeconds: Math.ceil(spec.stopDeadlineMs / 1000) + KILL_MARGIN_S,
          // A replica talks to NATS only, never to the Kubernetes API.
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: IMAGE_USER_ID,
            runAsGroup: IMAGE_USER_ID,
            fsGroup: IMAGE_USER_ID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: k8sSelector(spec) } },
          ],
          containers: [
            {
              name: CONTAINER,
              image: spec.image,
              imagePullPolicy: 'IfNotPresent',
              args: replicaArgs(spec),
              ports: [{ name: 'http', containerPort: spec.httpPort, protocol: 'TCP' }],
              env,
              resources: { requests: { cpu: spec.resources.cpu, memory: spec.resources.memory }, limits: { memory: spec.resources.memory } },
              // /healthz answers once the replica has connected and loaded the deployed functions.
              startupProbe: { httpGet: httpGet('/healthz'), periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 90 },
              // The process is alive; a NATS outage does not fail it (the replica reconnects by itself).
              livenessProbe: { httpGet: httpGet('/healthz'), periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
              // Connected, following the registry, every function's consumer running, the DLQ writable.
              readinessProbe: { httpGet: httpGet('/readyz'), periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'fn-home', mountPath: IMAGE_HOME },
                { name: 'tmp', mountPath: '/tmp' },
                ...secretVolumes.map((v) => ({ name: v.name, mountPath: v.dir, readOnly: true })),
              ],
            },
          ],
          volumes: [
            // Bundles fetched from FN_BUNDLES and the compiled fn.config.ts; rebuilt on each start.
            { name: 'fn-home', emptyDir: { sizeLimit: '1Gi' } },
            { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
            // Readable by the node user's group (fsGroup) only.
            ...secretVolumes.map((v) => ({ name: v.name, secret: { secretName: secret, items: v.items, defaultMode: 0o440 } })),
          ],
        },
      },
    },
  }
}
