import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { jetstream } from '@nats-io/jetstream'
import { FnError, FnErrorCode } from '../../errors/fn-error.ts'
import { eventsSubject, type InvocationEvent } from '../../observe/invocation-event.ts'
import { watchEvents } from '../../observe/watch-events.ts'
import type { ParsedArgs } from '../parse-args.ts'
import { withRegistry } from './registry-command.ts'
import { headers as natsHeaders } from '@nats-io/transport-node'
import { DelayedPublisher } from '../../schedule/delayed-publisher.ts'

/**
 * `fn invoke <fn> (--data <json> | --file <path>) [--no-wait] [--timeout <ms>] [--json]`:
 * publishes to the function's subject with a unique `Nats-Msg-Id`, then follows that message's
 * events until it is acked or dead-lettered. Exit code 0 when it succeeded, 1 otherwise.
 * With `--delay <duration>` it is stored as a delayed message in `FN_SCHEDULES` instead, and the
 * command returns once it is stored (its outcome comes later: `fn logs`).
 */
export async function runInvoke(args: ParsedArgs): Promise<number> {
  const name = args.positionals[0]!
  const { data, file, noWait, json } = args.options
  const timeoutMs = args.options.timeoutMs ?? 30_000
  if ((data === undefined) === (file === undefined)) {
    throw new FnError(FnErrorCode.UsageInvalid, 'give the payload with exactly one of --data <json> or --file <path>')
  }
  let payload: Uint8Array
  if (data !== undefined) {
    try {
      JSON.parse(data)
    } catch (err) {
      throw new FnError(FnErrorCode.UsageInvalid, `--data is not valid JSON: ${(err as Error).message}`, { hint: `quote it for the shell, e.g. --data '{"orderId":"o-1"}'` })
    }
    payload = new TextEncoder().encode(data)
  } else {
    try {
      payload = await readFile(file!)
    } catch (err) {
      throw new FnError(FnErrorCode.UsageInvalid, `cannot read --file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  return withRegistry(args.config, { role: 'deployer' }, async ({ nc, registry }) => {
    const manifest = await registry.get(name)
    if (!manifest) throw new FnError(FnErrorCode.FunctionNotFound, `no function named '${name}' is deployed`, { hint: 'run `fn ls` to see what is deployed' })
    if (/[*>]/.test(manifest.subject)) {
      throw new FnError(FnErrorCode.UsageInvalid, `'${name}' listens on '${manifest.subject}', which has wildcards: publish to a concrete subject with any NATS client`)
    }
    if (args.options.delayMs !== undefined) {
      const at = Date.now() + args.options.delayMs
      await new DelayedPublisher(nc, jetstream(nc)).publish({ subject: manifest.subject, data: payload, headers: natsHeaders(), at, msgId: `invoke:${randomUUID()}` })
      const due = new Date(at).toISOString()
      console.log(json ? JSON.stringify({ delayed: { subject: manifest.subject, due } }) : `delayed: published to ${manifest.subject} at ${due} (see \`fn schedules\`, \`fn logs ${name}\`)`)
      return 0
    }
    // Subscribed, and the replicas asked to publish events, before publishing: even an instant
    // outcome is seen.
    const events = nc.subscribe(eventsSubject(name))
    const watch = noWait ? undefined : await watchEvents(nc, name, { ttlMs: timeoutMs + 5_000 })
    try {
      const ack = await jetstream(nc).publish(manifest.subject, payload, { msgID: `invoke:${randomUUID()}` })
      const where = { stream: ack.stream, seq: ack.seq, subject: manifest.subject }
      if (json) console.log(JSON.stringify({ published: where }))
      else console.log(`published to ${manifest.subject} (stream ${ack.stream}, seq ${ack.seq})`)
      if (noWait) return 0
      const timer = setTimeout(() => events.unsubscribe(), timeoutMs)
      try {
        for await (const m of events) {
          const e = m.json<InvocationEvent>()
          if (e.stream !== ack.stream || e.seq !== ack.seq) continue
          console.log(json ? JSON.stringify(e) : describe(e))
          if (e.outcome === 'ok') return 0
          if (e.outcome === 'dead-lettered') return 1
        }
      } finally {
        clearTimeout(timer)
      }
      throw new FnError(FnErrorCode.InvocationTimeout, `no outcome for seq ${ack.seq} within ${timeoutMs} ms; the message stays queued and will still be handled`, {
        hint: watch?.replicas === 0 ? 'no replica answered: start one (`fn start` or `fn dev`)' : 'see `fn ls` for pending messages',
      })
    } finally {
      watch?.stop()
      events.unsubscribe()
    }
  })
}

/** One line for a human: what happened to the invocation. */
export function describe(e: InvocationEvent): string {
  const run = e.durationMs === undefined ? '' : ` in ${formatMs(e.durationMs)}`
  const where = `(seq ${e.seq}, delivery ${e.deliveries}, version ${e.version.slice(0, 12)}, replica ${e.replica})`
  switch (e.outcome) {
    case 'ok':
      return `ok${run} ${where}`
    case 'retried':
      return `failed${run}: ${e.error} [${e.errorKind}]; retrying in ${e.delayMs} ms ${where}`
    case 'dead-lettered':
      return `dead-lettered: ${e.error} [${e.errorKind}] ${where}; see \`fn dlq show ${e.fn} ...\``
  }
}

/** `0.42 ms`, `12 ms`: a duration as a person reads it. */
export function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`
}
