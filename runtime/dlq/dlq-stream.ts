/**
 * The DLQ stream jetfn keeps (`dlq.stream` of `fn.config.ts`, default `FN_DLQ`, subjects
 * `fn.dlq.>`): its one definition, used by replicas and by `fn deploy`, which both make sure it
 * exists.
 */
import type { ResolvedConfig } from '../config/config-schema.ts'
import { DLQ_SUBJECT_PREFIX } from '../config/config-schema.ts'
import type { StreamSpec } from '../nats/ensure-stream.ts'

/** How many replicas the DLQ and its payload store get: as many as the most durable stream it takes dead letters from. */
export function dlqReplicas(config: ResolvedConfig): number {
  return Math.max(1, ...config.streams.map((st) => st.replicas))
}

export function dlqStreamSpec(config: ResolvedConfig): StreamSpec {
  return {
    name: config.dlq.stream,
    subjects: [`${DLQ_SUBJECT_PREFIX}.>`],
    storage: 'file',
    replicas: dlqReplicas(config),
    maxAgeMs: 0,
    duplicateWindowMs: 120_000,
  }
}
