/**
 * Turns a permission the server refused into `FN_PERMISSION_DENIED` naming the operation and the
 * subject. The server reports a refused publish or subscription asynchronously (`-ERR
 * 'Permissions Violation for Publish to "…"'`): nats.js fails a request whose subject it names
 * with a `PermissionViolationError`, and otherwise only reports it as a connection status, after
 * which a request may just time out. So a command's connection records the violations it sees,
 * and a command that then fails is reported by the violation, not by its timeout.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import { ROLE_INBOX_PREFIX, ROLES } from '../auth/roles.ts'
import { FnError, FnErrorCode, isFnError } from '../errors/fn-error.ts'

/** One refusal by the server. */
export interface PermissionViolation {
  operation: 'publish' | 'subscription'
  subject: string
}

/** The violations one connection has been told of, oldest first. */
export interface PermissionWatch {
  readonly violations: readonly PermissionViolation[]
  stop(): void
}

/** The first `PermissionViolationError` in `err`'s cause chain (matched by name: it may come from another copy of nats.js). */
export function findViolation(err: unknown): PermissionViolation | undefined {
  let e = err as { name?: unknown; operation?: unknown; subject?: unknown; cause?: unknown } | undefined
  for (let depth = 0; e && typeof e === 'object' && depth < 8; depth++, e = e.cause as typeof e) {
    if (e.name === 'PermissionViolationError' && typeof e.subject === 'string') {
      return { operation: e.operation === 'subscription' ? 'subscription' : 'publish', subject: e.subject }
    }
  }
  return undefined
}

/** Records the permission violations the server reports on `nc` until `stop()`. */
export function watchPermissions(nc: NatsConnection): PermissionWatch {
  const violations: PermissionViolation[] = []
  let stopped = false
  void (async () => {
    for await (const s of nc.status()) {
      if (stopped) break
      if (s.type !== 'error') continue
      const v = findViolation(s.error)
      if (v) violations.push(v)
    }
  })().catch(() => {
    // The status iterator ends with the connection; nothing to report.
  })
  return {
    violations,
    stop: () => {
      stopped = true
    },
  }
}

// Codes of jetfn's own that say what the user asked for is wrong: never a permission problem.
const OWN_VERDICTS = new Set<string>([
  FnErrorCode.ConfigInvalid,
  FnErrorCode.FunctionInvalid,
  FnErrorCode.FunctionLoadFailed,
  FnErrorCode.FunctionNotFound,
  FnErrorCode.StreamNotFound,
  FnErrorCode.UsageInvalid,
])

/**
 * `FN_PERMISSION_DENIED` for a failure caused by a refused permission: one in `err`'s cause
 * chain, or else (for a failure that is not a verdict of jetfn's own, such as a timeout) the
 * first violation the connection saw. Undefined when the failure is not about permissions.
 *
 * @param role the role the command needs, named in the hint.
 */
export function permissionDenied(err: unknown, seen: readonly PermissionViolation[] = [], role?: string): FnError | undefined {
  if (isFnError(err, FnErrorCode.PermissionDenied)) return err
  const v = findViolation(err) ?? (isFnError(err) && OWN_VERDICTS.has(err.code) ? undefined : seen[0])
  if (!v) return undefined
  const what = v.operation === 'subscription' ? 'subscribe to' : 'publish to'
  // Replies come to the inbox prefix of the command's role: a user of another role is refused
  // there first. Named as the whole prefix (the rest of the subject is random).
  const inbox = ROLES.find((r) => v.subject.startsWith(`${ROLE_INBOX_PREFIX[r]}.`))
  const subject = inbox ? `${ROLE_INBOX_PREFIX[inbox]}.>` : v.subject
  const where = inbox ? ` (replies to the '${inbox}' role)` : ''
  // Refused at its inbox, a command needed the role whose inbox it is.
  role ??= inbox
  return new FnError(FnErrorCode.PermissionDenied, `the NATS server refused to let this user ${what} '${subject}'${where}`, {
    cause: err,
    hint: `the user lacks that permission; \`fn auth\` prints the permissions of each role${role ? ` (this command needs the '${role}' role)` : ''}`,
  })
}
