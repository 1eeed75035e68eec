/**
 * The three ways `fn auth` prints the roles' permissions: a nats-server config block (one
 * `permissions` variable per role and an `authorization { users: [...] }` that uses them), `nsc`
 * commands for operator mode, and JSON for tools. No secret is ever printed: passwords are
 * environment variables that nats-server reads when it loads the file.
 */
import { ROLES, ROLE_SUMMARY, ROLE_USER, type Role } from './roles.ts'
import type { RolePermissionSet } from './role-permissions.ts'

/** What the output says it was made for, in its first lines. */
export interface AuthSummary {
  functions: readonly string[]
  streams: readonly string[]
}

/** `JETFN_REPLICA`: the config variable holding a role's permissions. */
export function permissionsVariable(role: Role): string {
  return `JETFN_${role.toUpperCase()}`
}

/** `JETFN_REPLICA_PASSWORD`: the environment variable nats-server takes a role's password from. */
export function passwordVariable(role: Role): string {
  return `${permissionsVariable(role)}_PASSWORD`
}

function header(what: string, summary: AuthSummary): string[] {
  const fns = summary.functions.length === 0 ? 'no functions' : `functions ${summary.functions.join(', ')}`
  return [
    `# jetfn roles for this project (${what}): ${fns}; streams ${summary.streams.join(', ')}.`,
    '# Subjects are exact: run `fn auth` again after adding a function or a stream, and reload the server.',
  ]
}

/** A subject list in nats-server config syntax: quoted, one per line. */
function list(subjects: readonly string[], indent: string): string {
  return `[\n${subjects.map((s) => `${indent}  ${JSON.stringify(s)}`).join('\n')}\n${indent}]`
}

/**
 * A nats-server config fragment: one variable per role with its `permissions`, then an
 * `authorization` block with one user per role whose password nats-server reads from the
 * environment (`JETFN_REPLICA_PASSWORD`, …). Paste it into the server config as it is, or take
 * the `permissions` blocks into users of your own.
 */
export function formatServerConfig(set: RolePermissionSet, summary: AuthSummary): string {
  const lines = [...header('fn auth', summary), '# Passwords come from the environment of nats-server: ' + ROLES.map(passwordVariable).join(', ') + '.', '']
  for (const role of ROLES) {
    const p = set[role]
    lines.push(`# ${role}: ${ROLE_SUMMARY[role]}.`, `# Its connections use the inbox prefix ${p.inboxPrefix}.`)
    lines.push(`${permissionsVariable(role)} = {`)
    lines.push(`  publish: { allow: ${list(p.publish, '  ')} }`)
    lines.push(`  subscribe: { allow: ${list(p.subscribe, '  ')} }`)
    if (p.allowResponses) lines.push('  allow_responses: true')
    lines.push('}', '')
  }
  lines.push('authorization {', '  users: [')
  for (const role of ROLES) lines.push(`    { user: ${JSON.stringify(ROLE_USER[role])}, password: $${passwordVariable(role)}, permissions: $${permissionsVariable(role)} }`)
  lines.push('  ]', '}')
  return lines.join('\n')
}

/** Quotes a word for a POSIX shell. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** `nsc add user` commands, one per role, for a server in operator mode (run with the account selected). */
export function formatNsc(set: RolePermissionSet, summary: AuthSummary): string {
  const lines = [...header('fn auth --nsc', summary), '# Run with the account jetfn uses selected (`nsc env -a <account>`), then `nsc push` it.', '']
  for (const role of ROLES) {
    const p = set[role]
    lines.push(`# ${role}: ${ROLE_SUMMARY[role]}. Inbox prefix ${p.inboxPrefix}.`)
    const args = [`nsc add user --name ${ROLE_USER[role]}`, `--allow-pub ${shellQuote(p.publish.join(','))}`, `--allow-sub ${shellQuote(p.subscribe.join(','))}`]
    if (p.allowResponses) args.push('--allow-pub-response=1')
    lines.push(args.join(' \\\n  '), '')
  }
  return lines.join('\n').trimEnd()
}

/** `fn auth --json`: `{ replica: { publish, subscribe, inboxPrefix, allowResponses }, deployer: …, viewer: … }`. */
export function formatJson(set: RolePermissionSet): string {
  return JSON.stringify(set, null, 2)
}
