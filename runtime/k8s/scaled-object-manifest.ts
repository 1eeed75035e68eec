/**
 * The KEDA ScaledObject of the replica Deployment: one `nats-jetstream` trigger per function.
 *
 * One ScaledObject, not one per function: every replica runs every function, so there is one
 * thing to scale, and Kubernetes allows one HPA (KEDA makes one per ScaledObject) per Deployment.
 * KEDA's HPA takes the highest replica count any trigger asks for, so the function with the most
 * backlog per replica decides, and none is starved by another's quiet queue.
 */
import { objectMeta, type K8sSpec } from './k8s-spec.ts'

/** How often KEDA reads the backlog, s (its default is 30; a queue wants a quicker look). */
const POLLING_INTERVAL_S = 15
/** How long every trigger must be idle before KEDA scales to zero, s (KEDA's default). */
const COOLDOWN_PERIOD_S = 300
/** Failed reads of the monitoring endpoint in a row before KEDA holds the fallback replica count. */
const FALLBACK_FAILURES = 3

/** The ScaledObject, or undefined for a fixed-size Deployment (`--replicas`) or no functions. */
export function scaledObjectManifest(spec: K8sSpec): Record<string, unknown> | undefined {
  const s = spec.scaling
  if (s.kind !== 'keda' || spec.functions.length === 0) return undefined
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: objectMeta(spec, spec.app),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: spec.app },
      minReplicaCount: s.min,
      maxReplicaCount: s.max,
      pollingInterval: POLLING_INTERVAL_S,
      cooldownPeriod: COOLDOWN_PERIOD_S,
      // When the monitoring endpoint cannot be read, keep replicas up rather than guess at zero.
      fallback: { failureThreshold: FALLBACK_FAILURES, replicas: Math.max(1, s.min) },
      triggers: spec.functions.map((fn) => ({
        type: 'nats-jetstream',
        name: fn.name,
        // The scaler's lag is the consumer's num_pending + num_ack_pending, read on its leader;
        // its target per replica is the function's concurrency: what one replica takes at once.
        metadata: {
          natsServerMonitoringEndpoint: s.monitoring,
          account: s.account,
          stream: fn.stream,
          consumer: fn.consumer,
          lagThreshold: String(fn.concurrency),
          activationLagThreshold: String(s.activationLag),
          useHttps: String(s.useHttps),
        },
      })),
    },
  }
}
