/**
 * `fn pause` and `fn resume`: a function's durable consumer is paused on the server (consumer
 * pause, nats-server 2.11), so every replica stops receiving its messages at once and they wait in
 * the stream. Messages already running finish and settle. The pause lives in the consumer, so a
 * redeploy keeps it (the consumer is updated, not replaced) and a deploy that moves the function
 * to another stream carries it to the new consumer.
 */
import type { JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { consumerName } from '../nats/ensure-consumer.ts'
import { isNotFound } from '../nats/ensure-stream.ts'
import { requireFeature } from '../nats/server-features.ts'
import type { Registry } from './registry.ts'

/**
 * What "paused until resumed" is stored as: the server takes a time, not "forever". Far enough to
 * mean never; `fn ls` shows it as paused with no end.
 */
export const PAUSED_INDEFINITELY = new Date('9999-01-01T00:00:00Z')

/** A function's pause as read back from its consumer. */
export interface PauseState {
  name: string
  stream: string
  consumer: string
  /** ISO time the pause ends; null when not paused, or paused until resumed when `indefinitely`. */
  until: string | null
  indefinitely: boolean
}

/** What {@link pauseFunction} and {@link resumeFunction} need. */
export interface PauseContext {
  nc: NatsConnection
  jsm: JetStreamManager
  registry: Registry
}

/** Pauses a deployed function until `until` (default: until `fn resume`). */
export async function pauseFunction(ctx: PauseContext, name: string, until: Date = PAUSED_INDEFINITELY): Promise<PauseState> {
  requireFeature(ctx.nc, 'consumer pause')
  if (until.getTime() <= Date.now()) throw new FnError(FnErrorCode.UsageInvalid, `--until ${until.toISOString()} is not in the future`)
  const { stream, consumer } = await locate(ctx, name)
  await ctx.jsm.consumers.pause(stream, consumer, until).catch((err: unknown) => rethrow(err, name, stream, consumer))
  return pauseState(ctx.jsm, name, stream)
}

/** Resumes a paused function (a function that is not paused is left as it is). */
export async function resumeFunction(ctx: PauseContext, name: string): Promise<PauseState> {
  requireFeature(ctx.nc, 'consumer pause')
  const { stream, consumer } = await locate(ctx, name)
  await ctx.jsm.consumers.resume(stream, consumer).catch((err: unknown) => rethrow(err, name, stream, consumer))
  return pauseState(ctx.jsm, name, stream)
}

/** The pause of a function's consumer on `stream`; `until` null when it is not paused. */
export async function pauseState(jsm: JetStreamManager, name: string, stream: string): Promise<PauseState> {
  const consumer = consumerName(name)
  const info = await jsm.consumers.info(stream, consumer)
  return toPauseState(name, stream, info.paused === true ? info.config.pause_until : undefined)
}

/** A pause as `fn ls` and `fn pause` report it, from a consumer's `pause_until` (when paused). */
export function toPauseState(name: string, stream: string, pauseUntil: string | undefined): PauseState {
  const end = pauseUntil ? new Date(pauseUntil) : undefined
  const live = end !== undefined && end.getTime() > Date.now()
  return {
    name,
    stream,
    consumer: consumerName(name),
    until: live ? end.toISOString() : null,
    indefinitely: live && end.getTime() >= PAUSED_INDEFINITELY.getTime(),
  }
}

async function locate(ctx: PauseContext, name: string): Promise<{ stream: string; consumer: string }> {
  const manifest = await ctx.registry.get(name)
  if (!manifest) throw new FnError(FnErrorCode.FunctionNotFound, `no function named '${name}' is deployed`, { hint: 'run `fn ls` to see what is deployed' })
  return { stream: manifest.stream, consumer: consumerName(name) }
}

function rethrow(err: unknown, name: string, stream: string, consumer: string): never {
  if (isNotFound(err)) {
    throw new FnError(FnErrorCode.FunctionNotFound, `'${name}' has no consumer ${consumer} on stream ${stream}`, { cause: err, hint: 'run `fn deploy` to create it' })
  }
  throw err
}
