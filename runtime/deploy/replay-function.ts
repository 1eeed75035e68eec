/**
 * `fn replay`: re-runs what a function's stream holds from a point, on the version deployed. The
 * replay gets a durable consumer of its own (`fn_<name>_replay`: one replay at a time per
 * function, so that the replica role can name it exactly) created at that point, and
 * an entry in the function's manifest that tells every replica to run it beside the function's
 * own consumer. Nothing is copied: the stream is read again. The consumer's name tells each
 * delivery apart from the first run, so outputs (`<fn>:<stream>:<seq>:r<id>:<n>`) and dead letters
 * (`dlq:<fn>:<stream>:<seq>:r<id>`) are new messages, not duplicates dropped by the stream. Messages
 * stored after the replay began (past `throughSeq`) are left to the function's own consumer.
 */
import { randomBytes } from 'node:crypto'
import { hostname, userInfo } from 'node:os'
import type { JetStreamManager } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { consumerConfig, consumerSpec, replayConsumerName } from '../nats/ensure-consumer.ts'
import { isNotFound } from '../nats/ensure-stream.ts'
import type { FunctionManifest, ReplayRun } from './manifest.ts'
import type { Registry } from './registry.ts'

/** A replay consumer no replica has pulled from for this long is removed by the server. */
export const REPLAY_INACTIVE_MS = 24 * 3_600_000

/** What {@link prepareReplay} and friends need. */
export interface ReplayContext {
  jsm: JetStreamManager
  registry: Registry
}

/** A replay whose consumer exists and waits for confirmation. */
export interface PreparedReplay {
  manifest: FunctionManifest
  run: ReplayRun
}

/**
 * Creates the replay's consumer at `from` and counts what it would re-run: the messages on the
 * function's subject from there through the last one stored now. Nothing runs until
 * {@link startReplay}; {@link cancelReplay} removes the consumer.
 */
export async function prepareReplay(ctx: ReplayContext, name: string, from: { seq: number } | { time: string }): Promise<PreparedReplay> {
  await endFinishedReplays(ctx, name)
  const manifest = await ctx.registry.get(name)
  if (!manifest) throw new FnError(FnErrorCode.FunctionNotFound, `no function named '${name}' is deployed`, { hint: 'run `fn ls` to see what is deployed' })
  const running = manifest.replays?.[0]
  if (running) {
    const { left } = await replayProgress(ctx.jsm, manifest.stream, running)
    throw new FnError(FnErrorCode.InvalidState, `a replay of '${name}' is still running (replay ${running.id}, ${left} message${left === 1 ? '' : 's'} left)`, {
      hint: 'one replay runs at a time per function: wait until `fn ls` no longer shows it',
    })
  }
  // A consumer left by a replay that was never started (declined, or its command killed).
  await ctx.jsm.consumers.delete(manifest.stream, replayConsumerName(name)).catch((err: unknown) => {
    if (!isNotFound(err)) throw err
  })
  const stream = await ctx.jsm.streams.info(manifest.stream)
  const throughSeq = stream.state.last_seq
  const id = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`
  const consumer = replayConsumerName(name)
  const spec = { ...consumerSpec({ ...manifest.options, stream: manifest.stream }), name: consumer, startFrom: from }
  await ctx.jsm.consumers.add(manifest.stream, { ...consumerConfig(spec), inactive_threshold: nanos(REPLAY_INACTIVE_MS), metadata: { jetfn_replay: id, jetfn_through_seq: String(throughSeq) } })
  const info = await ctx.jsm.consumers.info(manifest.stream, consumer)
  const me = userInfo({ encoding: 'utf8' })
  return {
    manifest,
    run: { id, consumer, from, throughSeq, count: info.num_pending, startedAt: new Date().toISOString(), startedBy: { user: me.username, host: hostname() } },
  }
}

/** Adds the replay to the function's manifest: every replica starts running it. */
export async function startReplay(ctx: ReplayContext, prepared: PreparedReplay): Promise<void> {
  const written = await ctx.registry.edit(prepared.manifest.name, (current) =>
    current.stream === prepared.manifest.stream ? { ...current, replays: [...(current.replays ?? []), prepared.run] } : undefined,
  )
  if (!written) {
    await cancelReplay(ctx, prepared)
    throw new FnError(FnErrorCode.FunctionNotFound, `'${prepared.manifest.name}' was removed or moved to another stream meanwhile: nothing replayed`)
  }
}

/** Removes a replay's consumer (declined, or nothing to replay). */
export async function cancelReplay(ctx: ReplayContext, prepared: PreparedReplay): Promise<void> {
  await ctx.jsm.consumers.delete(prepared.manifest.stream, prepared.run.consumer).catch((err: unknown) => {
    if (!isNotFound(err)) throw err
  })
}

/** How far a replay is: messages settled, and whether all of them are (or its consumer is gone). */
export async function replayProgress(jsm: JetStreamManager, stream: string, run: ReplayRun): Promise<{ left: number; finished: boolean }> {
  try {
    const info = await jsm.consumers.info(stream, run.consumer)
    // Nothing left to deliver or settle (what it held was counted when it was created), or the
    // floor is past the end on a busy stream whose newer messages keep the consumer pending.
    const finished = (info.num_pending === 0 && info.num_ack_pending === 0) || info.ack_floor.stream_seq >= run.throughSeq
    return { left: finished ? 0 : info.num_pending + info.num_ack_pending, finished }
  } catch (err) {
    if (isNotFound(err)) return { left: 0, finished: true }
    throw err
  }
}

/**
 * Ends finished replays: deletes their consumers and drops them from the manifest. Called by
 * `fn replay` and `fn deploy` (deployer commands: replicas never write the registry); returns the
 * ids ended.
 */
export async function endFinishedReplays(ctx: ReplayContext, name: string): Promise<string[]> {
  const current = await ctx.registry.get(name)
  if (!current?.replays?.length) return []
  const ended: string[] = []
  for (const run of current.replays) {
    if (!(await replayProgress(ctx.jsm, current.stream, run)).finished) continue
    await ctx.jsm.consumers.delete(current.stream, run.consumer).catch((err: unknown) => {
      if (!isNotFound(err)) throw err
    })
    ended.push(run.id)
  }
  if (ended.length === 0) return []
  await ctx.registry.edit(name, (latest) => {
    const replays = (latest.replays ?? []).filter((r) => !ended.includes(r.id))
    return { ...latest, replays: replays.length > 0 ? replays : undefined }
  })
  return ended
}
