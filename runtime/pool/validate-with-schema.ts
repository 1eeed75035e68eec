/**
 * Validates data with whatever schema a function declared: a zod schema (`safeParse`) or any
 * Standard Schema (`~standard.validate`: valibot, arktype, zod 4). The schema came from the user's
 * bundle, so it is duck-typed, never checked with instanceof.
 */
export type Validated = { ok: true; value: unknown } | { ok: false; reason: string }

interface Issue {
  path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>
  message: string
}

export async function validateWithSchema(schema: unknown, data: unknown): Promise<Validated> {
  const s = schema as {
    safeParse?: (d: unknown) => { success: boolean; data?: unknown; error?: { issues?: Issue[] } }
    '~standard'?: { validate: (d: unknown) => { value?: unknown; issues?: Issue[] } | Promise<{ value?: unknown; issues?: Issue[] }> }
  }
  // Standard Schema first: zod >= 3.24 has it too, and unlike safeParse it awaits async checks.
  if (s['~standard'] && typeof s['~standard'].validate === 'function') {
    const r = await s['~standard'].validate(data)
    return r.issues ? { ok: false, reason: formatIssues(r.issues) } : { ok: true, value: r.value }
  }
  if (typeof s.safeParse === 'function') {
    const r = s.safeParse(data)
    return r.success ? { ok: true, value: r.data } : { ok: false, reason: formatIssues(r.error?.issues ?? []) }
  }
  return { ok: false, reason: 'the function\'s schema has neither safeParse() nor ~standard.validate()' }
}

function formatIssues(issues: Issue[]): string {
  if (issues.length === 0) return 'schema validation failed'
  return issues
    .slice(0, 10)
    .map((issue) => {
      const path = (issue.path ?? []).map((p) => String(typeof p === 'object' && p !== null ? p.key : p)).join('.')
      return path ? `'${path}': ${issue.message}` : issue.message
    })
    .join('; ')
}
