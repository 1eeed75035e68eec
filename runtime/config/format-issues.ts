/**
 * Turns zod issues into the one-line-per-problem messages users see for `fn.config.ts` and for
 * function options: `fn.config.ts: 'defaults.retry.maxDeliver' must be at least 1 (got 0)`.
 *
 * Reasons are produced by {@link issueMessage}, a zod error map, because only while an issue is
 * being created does zod still hold the offending value and the schema that refused it.
 */
import type { z } from 'zod'

// Values of these fields are credentials: an error message quoting them would leak them to logs.
const SECRET_FIELDS = new Set(['token', 'pass', 'nkeySeed'])
const MAX_QUOTED = 60

/** Renders a value for `(got …)`: strings in single quotes, objects as short JSON. */
export function quoteValue(value: unknown): string {
  let text: string
  if (typeof value === 'string') text = `'${value}'`
  else if (typeof value === 'function') return 'a function'
  else if (typeof value === 'bigint') text = `${value}n`
  else if (typeof value === 'number' || typeof value === 'boolean' || value === undefined) {
    text = String(value)
  } else if (typeof value === 'symbol') text = value.toString()
  else {
    try {
      text = JSON.stringify(value) ?? String(value)
    } catch {
      // A cyclic object cannot be stringified; its tag still tells the user what kind of thing it is.
      text = Object.prototype.toString.call(value)
    }
  }
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED - 1)}…` : text
}

const ARTICLE_TYPES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  function: 'a function',
}

type RawIssue = Parameters<z.core.$ZodErrorMap>[0]

const unlistedFields = new WeakSet<object>()

/**
 * Marks a field schema as internal (supplied by jetfn, not written by users), so that an unknown-key
 * error does not offer it as one of the expected fields. Returns the schema.
 */
export function unlisted<T extends z.core.$ZodType>(schema: T): T {
  unlistedFields.add(schema)
  return schema
}

function reasonFor(iss: RawIssue): string {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required'
      return `must be ${ARTICLE_TYPES[iss.expected] ?? iss.expected}`
    case 'too_small':
    case 'too_big': {
      const small = iss.code === 'too_small'
      const limit = Number(small ? iss.minimum : iss.maximum)
      if (iss.origin === 'array' || iss.origin === 'string') {
        const what = iss.origin === 'array' ? 'item' : 'character'
        if (small && limit === 1) return 'must not be empty'
        return `must have ${small ? 'at least' : 'at most'} ${limit} ${what}${limit === 1 ? '' : 's'}`
      }
      if (iss.inclusive === false) return `must be ${small ? 'greater' : 'less'} than ${limit}`
      return `must be ${small ? 'at least' : 'at most'} ${limit}`
    }
    case 'invalid_value':
      return iss.values.length === 1
        ? `must be ${quoteValue(iss.values[0])}`
        : `must be one of ${iss.values.map(quoteValue).join(', ')}`
    case 'unrecognized_keys': {
      const shape = (iss.inst as { _zod?: { def?: { shape?: Record<string, object> } } } | undefined)?._zod?.def?.shape
      const known = shape === undefined ? [] : Object.keys(shape).filter((k) => !unlistedFields.has(shape[k] as object))
      const hint = known.length > 0 ? ` (expected one of ${known.map((k) => `'${k}'`).join(', ')})` : ''
      return `is not a known field${hint}`
    }
    case 'not_multiple_of':
      return `must be a multiple of ${String(iss.divisor)}`
    case 'invalid_format':
      return 'has an invalid format'
    default:
      return 'is invalid'
  }
}

/**
 * A zod error map giving every issue a reason that reads after a quoted field name and quotes the
 * offending value, except for missing values and credentials. Pass it as `safeParse(x, { error })`;
 * messages a schema sets itself take precedence.
 */
export const issueMessage: z.core.$ZodErrorMap = (iss) => {
  const reason = reasonFor(iss)
  const field = iss.path?.at(-1)
  const secret = typeof field === 'string' && SECRET_FIELDS.has(field)
  if (iss.code === 'unrecognized_keys' || iss.input === undefined || secret) return reason
  return `${reason} (got ${quoteValue(iss.input)})`
}

/** `['retry', 'backoff', 1]` → `retry.backoff[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out === '' ? String(part) : `.${String(part)}`
  }
  return out
}

/** Options of {@link formatIssues}. */
export interface FormatIssuesOptions {
  /** The file the value came from, as the user would type it (`fn.config.ts`); starts every line. */
  file: string
  /** What the value at the empty path is called. Default: `'the default export'`. */
  root?: string
}

/**
 * One line per problem, each `<file>: '<field>' <reason>`. An unknown key gets its own line naming
 * the key; a field with several issues reports only the first, which is the one to fix first.
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], opts: FormatIssuesOptions): string {
  const seen = new Set<string>()
  const lines: string[] = []
  const add = (path: readonly PropertyKey[], message: string) => {
    const field = formatPath(path)
    if (seen.has(field)) return
    seen.add(field)
    const subject = field === '' ? (opts.root ?? 'the default export') : `'${field}'`
    lines.push(`${opts.file}: ${subject} ${message}`)
  }
  for (const iss of issues) {
    if (iss.code === 'unrecognized_keys') {
      for (const key of iss.keys) add([...iss.path, key], iss.message)
    } else {
      add(iss.path, iss.message)
    }
  }
  return lines.join('\n')
}
