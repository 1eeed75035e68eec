import type { JetStreamClient } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { Logger } from 'pino'
import type { DeadLetterPayloads } from '../dlq/dead-letter-payloads.ts'
import type { RunnableFunction } from '../function/runnable-function.ts'
import type { InvocationObserver } from '../observe/invocation-event.ts'
import type { WorkerPool } from '../pool/worker-pool.ts'
import type { AttemptTracing } from '../settle/attempt-tracing.ts'
import type { TakeTokens } from './rate-gate.ts'

/** Options of `FunctionConsumer`. */
export interface FunctionConsumerOptions {
  nc: NatsConnection
  js: JetStreamClient
  pool: WorkerPool
  fn: RunnableFunction
  /** Durable consumer name (`fn_<name>`). */
  consumer: string
  /** The logger of a version: called again on every update, so lines name the version that runs. */
  log: (fn: RunnableFunction) => Logger
  /** Recreates the durable consumer when the server has lost it, as the function is now. */
  ensureConsumer: (fn: RunnableFunction) => Promise<void>
  /** Where dead letters too big for one message keep their payload (shared by the replica). */
  payloads: DeadLetterPayloads
  /** Told when a dead letter cannot be stored (`reason`) and when one is stored again (undefined). */
  onDeadLetterBlocked?: (reason: string | undefined) => void
  /** Largest batch handed to one thread. Default 256. */
  maxBatch?: number
  /** Told of every settled invocation and the handler's log lines. */
  observer?: InvocationObserver
  /** `host:pid` of this replica, for events. */
  replicaId?: string
  /** Set on the consumer of a replay (`fn replay`): its id, and the last stream sequence it re-runs. */
  replay?: { id: string; throughSeq: number } | undefined
  /** Takes tokens from a function's shared rate bucket; needed by functions with `rateLimit`. */
  takeTokens?: TakeTokens
  /** Set when tracing is on (`otel`): outputs carry the attempt's trace context. Default: off. */
  tracing?: AttemptTracing | undefined
}

