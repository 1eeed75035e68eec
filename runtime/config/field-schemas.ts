/**
 * Option fields shared by `defineFunction` and `fn.config.ts` (`defaults`, stream subjects): one
 * home, so that neither module imports the other.
 */
import { z } from 'zod'
import { durationMs } from './duration.ts'
import { quoteValue } from './format-issues.ts'

/** Longest duration a timer can take, ms: Node fires a setTimeout above 2^31-1 ms after 1 ms. */
export const MAX_TIMER_MS = 24 * 86_400_000

/**
 * Why `subject` is not a valid NATS subject or filter, or `undefined` when it is. Tokens are
 * separated by `.`, may not be empty or contain whitespace; `*` and `>` are wildcards only as
 * whole tokens, and `>` only as the last one.
 */
export function subjectProblem(subject: string): string | undefined {
  if (subject === '') return 'must not be empty'
  if (/\s/.test(subject)) return 'is not a valid NATS subject: it contains whitespace'
  const tokens = subject.split('.')
  for (const [i, token] of tokens.entries()) {
    if (token === '') return 'is not a valid NATS subject: it has an empty token'
    if (token !== '*' && token !== '>' && /[*>]/.test(token)) {
      return "is not a valid NATS subject: '*' and '>' must be whole tokens"
    }
    if (token === '>' && i !== tokens.length - 1) {
      return "is not a valid NATS subject: '>' must be the last token"
    }
  }
  return undefined
}

/** A zod string schema accepting a NATS subject or filter subject. */
export function natsSubject() {
  return z.string().superRefine((subject, ctx) => {
    const problem = subjectProblem(subject)
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', input: subject, message: `${problem} (got ${quoteValue(subject)})` })
    }
  })
}

/** Schemas of the redelivery fields, shared with `fn.config.ts` `defaults.retry`. */
export const retryFieldSchemas = {
  maxDeliver: z.number().int().min(1),
  backoff: z.array(durationMs({ max: MAX_TIMER_MS })).min(1),
  jitter: z.number().min(0).max(1),
}

/** Schemas of the tuning fields, shared with `fn.config.ts` `defaults`. */
export const tuningFieldSchemas = {
  concurrency: z.number().int().min(1).max(10_000),
  timeout: durationMs({ min: 0, exclusive: true, max: MAX_TIMER_MS }),
  timeoutGrace: durationMs({ max: MAX_TIMER_MS }),
  ackWait: durationMs({ min: 1_000, max: MAX_TIMER_MS }),
}

