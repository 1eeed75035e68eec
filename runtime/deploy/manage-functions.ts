/**
 * `fn rm` and `fn rollback`: changes to the registry that every replica then follows.
 */
import type { JetStreamManager } from '@nats-io/jetstream'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { pino, type Logger } from 'pino'
import { consumerName, consumerSpec, ensureConsumer } from '../nats/ensure-consumer.ts'
import { isNotFound } from '../nats/ensure-stream.ts'
import { deployer } from './deploy-functions.ts'
import type { FunctionManifest } from './manifest.ts'
import type { Registry } from './registry.ts'
import { removeSchedules, writeSchedule } from '../schedule/function-schedule.ts'

/**
 * Removes a function: deletes its manifest (replicas stop its consumer as they see that), then
 * deletes its durable consumer, and its schedule, pending tick and pending debounce runs in
 * `FN_SCHEDULES`. The manifest's history is kept, so `fn rollback` can restore it.
 */
export async function removeFunction(registry: Registry, jsm: JetStreamManager, name: string): Promise<FunctionManifest> {
  const manifest = await registry.get(name)
  if (!manifest) throw notFound(name)
  await registry.delete(name)
  for (const consumer of [consumerName(name), ...(manifest.replays ?? []).map((r) => r.consumer)]) {
    try {
      await jsm.consumers.delete(manifest.stream, consumer)
    } catch (err) {
      if (!isNotFound(err)) throw err
    }
  }
  if (manifest.options.schedule || manifest.options.debounce) await removeSchedules(jsm, name)
  return manifest
}

/**
 * Re-points a function's manifest at an earlier version from KV history: the one before the
 * current version, or the version whose hash starts with `to`. The bundle must still be stored.
 *
 * @param opts.jsm when given, the consumer is made to match the version rolled back to first
 *   (its subject, ack wait and limits, or its stream) as `fn deploy` does, so that bind-only
 *   replicas, which never change consumers, run it as it was deployed.
 */
export async function rollbackFunction(
  registry: Registry,
  name: string,
  to?: string,
  opts: { jsm?: JetStreamManager; log?: Logger } = {},
): Promise<{ from: string | undefined; to: FunctionManifest }> {
  const history = await registry.history(name)
  if (history.length === 0) throw notFound(name)
  const current = await registry.get(name)
  const versions = history.filter((r) => r.manifest).map((r) => r.manifest!)
  let target: FunctionManifest | undefined
  if (to) {
    const matches = [...new Set(versions.filter((m) => m.version.startsWith(to.toLowerCase())).map((m) => m.version))]
    if (matches.length > 1) throw new FnError(FnErrorCode.UsageInvalid, `version '${to}' of '${name}' is ambiguous: ${matches.map((v) => v.slice(0, 12)).join(', ')}`)
    target = [...versions].reverse().find((m) => m.version === matches[0])
    if (!target) throw new FnError(FnErrorCode.FunctionNotFound, `'${name}' has no version '${to}' in its history`, { hint: 'versions kept: ' + [...new Set(versions.map((m) => m.version.slice(0, 12)))].join(', ') })
  } else {
    target = [...versions].reverse().find((m) => m.version !== current?.version)
    if (!target) throw new FnError(FnErrorCode.FunctionNotFound, `'${name}' has no earlier version to roll back to`)
  }
  if (!(await registry.hasBundle(target.version))) {
    throw new FnError(FnErrorCode.FunctionNotFound, `the bundle of '${name}' version ${target.version.slice(0, 12)} is no longer stored`)
  }
  const manifest: FunctionManifest = { ...target, deployedAt: new Date().toISOString(), deployedBy: deployer(), rolledBackFrom: current?.version }
  // Replays in progress go on, on the version restored; those of the old manifest ended long ago.
  manifest.replays = current?.stream === target.stream && current.replays?.length ? current.replays : undefined
  if (opts.jsm) await ensureConsumer(opts.jsm, consumerSpec({ ...target.options, stream: target.stream }), opts.log ?? pino({ enabled: false }))
  // The schedule of the version restored, as `fn deploy` writes it.
  if (opts.jsm && target.options.schedule) await writeSchedule(opts.jsm.jetstream(), opts.jsm, name, target.options.schedule)
  else if (opts.jsm && (current?.options.schedule || current?.options.debounce)) await removeSchedules(opts.jsm, name)
  await registry.put(manifest)
  if (opts.jsm && current && current.stream !== target.stream) {
    // As a deploy that moves a function: its consumer on the stream it leaves goes.
    await opts.jsm.consumers.delete(current.stream, consumerName(name)).catch((err: unknown) => {
      if (!isNotFound(err)) throw err
    })
  }
  return { from: current?.version, to: manifest }
}

function notFound(name: string): FnError {
  return new FnError(FnErrorCode.FunctionNotFound, `no function named '${name}' is deployed`, { hint: 'run `fn ls` to see what is deployed' })
}
