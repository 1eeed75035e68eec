import { createInterface } from 'node:readline/promises'
import { setTimeout as delay } from 'node:timers/promises'
import { FnError, FnErrorCode } from '../../errors/fn-error.ts'
import { cancelReplay, endFinishedReplays, prepareReplay, replayProgress, startReplay } from '../../deploy/replay-function.ts'
import type { ParsedArgs } from '../parse-args.ts'
import { withRegistry } from './registry-command.ts'

/**
 * `fn replay <function> (--from-seq N | --since <time|duration>) [--yes] [--wait]`: shows how many
 * messages would run again and asks before starting (`--yes` skips the question; without a
 * terminal it is required). `--wait` follows the replay to its end and then removes its consumer.
 */
export async function runReplay(args: ParsedArgs): Promise<number> {
  const name = args.positionals[0]!
  if (!args.options.yes && !process.stdin.isTTY) {
    throw new FnError(FnErrorCode.UsageInvalid, 'fn replay asks for confirmation, and stdin is not a terminal', { hint: 'pass --yes to replay without asking' })
  }
  const from = args.options.fromSeq !== undefined ? { seq: args.options.fromSeq } : { time: args.options.since!.toISOString() }
  return withRegistry(args.config, { role: 'deployer' }, async (ctx) => {
    const prepared = await prepareReplay(ctx, name, from)
    const { run, manifest } = prepared
    const point = 'seq' in from ? `stream sequence ${from.seq}` : from.time
    if (run.count === 0) {
      await cancelReplay(ctx, prepared)
      console.log(`${name}  nothing to replay: no message on ${manifest.subject} in stream ${manifest.stream} from ${point} through ${run.throughSeq}`)
      return 0
    }
    console.log(
      `${name}  will re-run ${run.count} message${run.count === 1 ? '' : 's'} of stream ${manifest.stream} (${manifest.subject}) from ${point} through sequence ${run.throughSeq}, ` +
        `on version ${manifest.version.slice(0, 12)}; each is a new run: its outputs are published again`,
    )
    if (!args.options.yes && !(await confirm('replay them? [y/N] ').catch(async (err: unknown) => {
      await cancelReplay(ctx, prepared)
      throw err
    }))) {
      await cancelReplay(ctx, prepared)
      console.log('nothing replayed')
      return 1
    }
    await startReplay(ctx, prepared)
    console.log(`${name}  replay ${run.id} started on every replica (consumer ${run.consumer})`)
    if (!args.options.wait) return 0
    for (;;) {
      const progress = await replayProgress(ctx.jsm, manifest.stream, run)
      if (progress.finished) break
      await delay(500)
    }
    await endFinishedReplays(ctx, name)
    console.log(`${name}  replay ${run.id} done: ${run.count} message${run.count === 1 ? '' : 's'} ran again`)
    return 0
  })
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim())
  } finally {
    rl.close()
  }
}
