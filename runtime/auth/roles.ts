/**
 * jetfn's three roles and what each connection is: `replica` (`fn start --bind-only`),
 * `deployer` (the commands that change something) and `viewer` (the ones that only read). Each
 * role has an inbox prefix of its own, which its connections set as nats.js `inboxPrefix` and
 * which only that role may subscribe to: one role cannot read another's replies.
 */

/** Every role `fn auth` prints, in the order it prints them. */
export const ROLES = ['replica', 'deployer', 'viewer'] as const

export type Role = (typeof ROLES)[number]

/**
 * Inbox prefix per role. Under `_INBOX.`, so that `ctx.publish` still refuses them as system
 * subjects; one more token per role, so that `<prefix>.>` covers exactly one role's replies.
 */
export const ROLE_INBOX_PREFIX: Readonly<Record<Role, string>> = Object.freeze({
  replica: '_INBOX.jetfn.replica',
  deployer: '_INBOX.jetfn.deployer',
  viewer: '_INBOX.jetfn.viewer',
})

/** The user name `fn auth` gives each role in the server config and `nsc`. */
export const ROLE_USER: Readonly<Record<Role, string>> = Object.freeze({
  replica: 'jetfn-replica',
  deployer: 'jetfn-deployer',
  viewer: 'jetfn-viewer',
})

/** What each role is for, as `fn auth` explains it. */
export const ROLE_SUMMARY: Readonly<Record<Role, string>> = Object.freeze({
  replica: 'fn start --bind-only: binds to existing consumers, pulls, settles, publishes outputs and dead letters, reads the registry',
  deployer: 'fn deploy, rm, rollback, invoke, dlq replay/purge, and everything a viewer does: provisions streams, consumers and buckets, writes the registry',
  viewer: 'fn ls, logs, dlq ls/show: reads only',
})

/**
 * The role whose inbox prefix a command's connection uses. `fn dev` runs a replica (and deploys
 * over its connection): it is a development tool with every right, but its connection is a replica's.
 */
export function commandRole(command: string, sub?: string): Role {
  switch (command) {
    case 'start':
    case 'dev':
      return 'replica'
    case 'ls':
    case 'logs':
      return 'viewer'
    case 'dlq':
      return sub === 'ls' || sub === 'show' ? 'viewer' : 'deployer'
    default:
      return 'deployer'
  }
}
