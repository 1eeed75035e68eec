/**
 * An in-process replica against a test server, with fixture functions deployed under names and
 * subjects unique to one test (`<prefix>_<fixture>` on `<prefix>.in.<fixture>`), and helpers to
 * read back what a user would see: consumer state and dead letters.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { JetStreamManager, MsgRequest, StoredMsg } from '@nats-io/jetstream'
import { pino } from 'pino'
import { resolveConfig, type ResolvedConfig } from '../../runtime/config/config-schema.ts'
import type { RunnableFunction } from '../../runtime/consumer/function-consumer.ts'
import { buildFunctionFile, toRunnable } from '../../runtime/deploy/load-function.ts'
import type { ResolvedFunctionOptions } from '../../runtime/function/function-options.ts'
import { isNotFound } from '../../runtime/nats/ensure-stream.ts'
import { consumerName } from '../../runtime/nats/ensure-consumer.ts'
import { Replica } from '../../runtime/replica/replica.ts'

export const FIXTURES = fileURLToPath(new URL('../fixtures/functions/', import.meta.url))
const HOME = fileURLToPath(new URL('../../.fn/test', import.meta.url))

/** A silent logger unless `TEST_LOGS=1`. */
export const testLog = pino({ level: process.env.TEST_LOGS ? 'debug' : 'silent' })

export function testConfig(url: string, input: Record<string, unknown> = {}): ResolvedConfig {
  return resolveConfig({ nats: { servers: url }, pool: { threads: 2 }, ...input }, { file: 'test.config.ts', env: {} })
}

/** Starts a replica whose config has one stream `<prefix>` on `<prefix>.>`. */
export async function startReplica(url: string, prefix: string, input: Record<string, unknown> = {}): Promise<Replica> {
  const config = testConfig(url, { streams: [{ name: prefix, subjects: [`${prefix}.>`] }], ...input })
  const replica = new Replica({ config, log: testLog })
  await replica.start()
  return replica
}

export type FixtureOverrides = Partial<Omit<ResolvedFunctionOptions, 'retry'>> & { retry?: Partial<ResolvedFunctionOptions['retry']> }

/** Builds a fixture and returns it as a runnable function named and routed for this test. */
export async function fixture(
  file: string,
  prefix: string,
  overrides: FixtureOverrides = {},
): Promise<RunnableFunction> {
  // Only the config's defaults matter to a build.
  const config = testConfig('nats://127.0.0.1:1')
  const built = await buildFunctionFile(join(FIXTURES, `${file}.ts`), { config, home: HOME })
  const base = built.file.replace(/^.*\//, '').replace(/\.ts$/, '')
  const options: ResolvedFunctionOptions = {
    ...built.options,
    name: `${prefix}_${base}`,
    subject: `${prefix}.in.${base}`,
    // A fixture reads what is published before or after it is deployed (tests fill a backlog
    // first); tests about start positions set `startFrom` themselves.
    startFrom: 'all',
    ...overrides,
    retry: { ...built.options.retry, ...overrides.retry },
  } as ResolvedFunctionOptions
  return toRunnable({ ...built, options }, prefix)
}

/** Builds and deploys a fixture; returns it. */
export async function deployFixture(replica: Replica, file: string, prefix: string, overrides: FixtureOverrides = {}): Promise<RunnableFunction> {
  const fn = await fixture(file, prefix, overrides)
  await replica.deploy(fn)
  return fn
}


/** State of a function's consumer as the server sees it. */
export async function consumerState(jsm: JetStreamManager, fn: RunnableFunction) {
  const info = await jsm.consumers.info(fn.stream, consumerName(fn.name))
  return {
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    redelivered: info.num_redelivered,
    ackFloor: info.ack_floor.stream_seq,
    delivered: info.delivered.stream_seq,
  }
}

/** True once every message of the function's subject has been settled (acked or terminated). */
export async function settled(jsm: JetStreamManager, fn: RunnableFunction): Promise<boolean> {
  const s = await consumerState(jsm, fn)
  return s.pending === 0 && s.ackPending === 0
}

/** The dead letters of a function, oldest first. */
export async function deadLetters(jsm: JetStreamManager, fn: string, dlqStream = 'FN_DLQ'): Promise<StoredMsg[]> {
  const subject = `fn.dlq.${fn}`
  let count: number
  try {
    const info = await jsm.streams.info(dlqStream, { subjects_filter: subject })
    count = info.state.subjects?.[subject] ?? 0
  } catch (err) {
    // No DLQ stream yet means no dead letters; anything else is a failure to see, not an empty DLQ.
    if (isNotFound(err)) return []
    throw err
  }
  const out: StoredMsg[] = []
  let seq = 0
  while (out.length < count) {
    const m = await jsm.streams.getMessage(dlqStream, nextBySubject(subject, seq + 1))
    if (!m) break
    out.push(m)
    seq = m.seq
  }
  return out
}

/**
 * A `STREAM.MSG.GET` request for the first message on `subject` at or after `seq`. The server
 * accepts `next_by_subj` there; nats.js declares it only for direct gets, hence the cast.
 */
export function nextBySubject(subject: string, seq: number): MsgRequest {
  return { seq, next_by_subj: subject } as unknown as MsgRequest
}
