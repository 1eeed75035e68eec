/**
 * A nats-server configured from `fn auth --json`'s own output, for tests of jetfn's roles: one
 * user per role with exactly the permissions `fn auth` printed, plus an `admin` user with every
 * right for the test's own checks. A config file per role (`fn.<role>.config.ts`, importing the
 * project's) makes the `fn` commands connect as that user. Every permission violation the server
 * logs is kept, so a test can show that a role did all its work without one.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { expect } from 'vitest'
import type { RolePermissionSet } from '../../runtime/auth/role-permissions.ts'
import { ROLE_USER, ROLES, type Role } from '../../runtime/auth/roles.ts'
import type { NatsServerProcess } from '../../runtime/nats/nats-server-process.ts'
import type { DevProject } from './dev-process.ts'
import { runFn } from './fn-process.ts'
import { startServer } from './nats-server.ts'

/** A permission violation as the server logged it. */
export interface LoggedViolation {
  /** `Publish` or `Subscription`. */
  kind: string
  user: string
  subject: string
  line: string
}

export interface RoleServer {
  server: NatsServerProcess
  /** What `fn auth --json` printed for the project. */
  permissions: RolePermissionSet
  /** The project run as each role (its `configFile` connects as that role's user). */
  as: Record<Role, DevProject>
  /** An admin connection (every right) for the test's own reads and publishes. */
  admin: NatsConnection
  /** Each user's password (`admin` too). */
  passwords: Record<Role | 'admin', string>
  /** Permission violations the server has logged so far. */
  violations(): LoggedViolation[]
  stop(): Promise<void>
}

/** Options of {@link startRoleServer}. */
export interface RoleServerOptions {
  /** Extra top-level server config (e.g. `max_payload`). */
  extraConfig?: string
  /** Extra fields of each role's config file (JSON), e.g. `{ replica: { http: { port } } }`. */
  roleConfig?: Partial<Record<Role, Record<string, unknown>>>
}

/** The nats-server `authorization` block for `set`, built from the JSON: one user per role, and `admin`. */
export function authorizationBlock(set: RolePermissionSet, passwords: Record<Role | 'admin', string>): string {
  const users = [
    `{ user: "admin", password: ${JSON.stringify(passwords.admin)} }`,
    ...ROLES.map((role) => {
      const p = set[role]
      const permissions = { publish: { allow: p.publish }, subscribe: { allow: p.subscribe }, ...(p.allowResponses ? { allow_responses: true } : {}) }
      return `{ user: ${JSON.stringify(ROLE_USER[role])}, password: ${JSON.stringify(passwords[role])}, permissions: ${JSON.stringify(permissions)} }`
    }),
  ]
  return `authorization {\n  users: [\n    ${users.join('\n    ')}\n  ]\n}`
}

/** Runs `fn auth --json` on the project (no server needed: its subjects are in configured streams). */
export async function authJson(project: DevProject): Promise<RolePermissionSet> {
  const r = await runFn(project, ['auth', '--json'], 'nats://127.0.0.1:1')
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout) as RolePermissionSet
}

/** Starts a server whose users are the project's roles, as `fn auth --json` says, and writes a config per role. */
export async function startRoleServer(project: DevProject, opts: RoleServerOptions = {}): Promise<RoleServer> {
  const permissions = await authJson(project)
  const passwords = { admin: secret(), replica: secret(), deployer: secret(), viewer: secret() }
  const logged: LoggedViolation[] = []
  const note = (obj: object): void => {
    const line = String((obj as { line?: unknown }).line ?? '')
    // nats-server 2.15.1: `[ERR] 127.0.0.1:42512 - cid:5 - "v3.4.0:nats.js" - "$G/user:a" - Publish Violation - Subject "y"`
    const m = /"[^"]*user:([^"]*)".*?(Publish|Subscription) Violation.*?Subject "([^"]*)"/.exec(line)
    if (m) logged.push({ kind: m[2]!, user: m[1]!, subject: m[3]!, line })
    else if (/Violation/.test(line)) logged.push({ kind: 'unparsed', user: '', subject: '', line })
  }
  const server = await startServer({
    extraConfig: [opts.extraConfig ?? '', authorizationBlock(permissions, passwords)].join('\n'),
    logger: { info: () => undefined, warn: note, debug: note },
  })
  const as = {} as Record<Role, DevProject>
  for (const role of ROLES) {
    const configFile = join(project.dir, `fn.${role}.config.ts`)
    const extra = opts.roleConfig?.[role] ?? {}
    await writeFile(
      configFile,
      `import { defineConfig } from 'jetfn'\nimport base from './fn.config.ts'\n\n` +
        `export default defineConfig({ ...base, ...${JSON.stringify(extra)}, nats: { ...base.nats, user: ${JSON.stringify(ROLE_USER[role])}, pass: ${JSON.stringify(passwords[role])} } })\n`,
    )
    as[role] = { ...project, configFile }
  }
  const admin = await connect({ servers: server.url, user: 'admin', pass: passwords.admin, noAsyncTraces: true, name: 'jetfn-test admin' })
  return {
    server,
    permissions,
    as,
    admin,
    passwords,
    violations: () => [...logged],
    async stop() {
      await admin.close()
      await server.stop()
    },
  }
}

function secret(): string {
  return randomBytes(12).toString('hex')
}
