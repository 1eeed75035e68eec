import { describe, expect, it } from 'vitest'
import { partialWildcardToken, rolePermissions, type AuthScope, type RolePermissionSet } from '../../runtime/auth/role-permissions.ts'
import { commandRole, ROLE_INBOX_PREFIX, ROLES } from '../../runtime/auth/roles.ts'
import { formatNsc, formatServerConfig } from '../../runtime/auth/format-permissions.ts'
import { findViolation, permissionDenied } from '../../runtime/nats/permission-denied.ts'
import { FnError, FnErrorCode } from '../../runtime/errors/fn-error.ts'

const scope: AuthScope = {
  functions: [
    { name: 'reserve-inventory', subject: 'orders.created', stream: 'ORDERS' },
    { name: 'charge', subject: 'payments.*.requested', stream: 'PAYMENTS', rateLimited: true },
  ],
  streams: [
    { name: 'ORDERS', subjects: ['orders.>'], configured: true },
    { name: 'PAYMENTS', subjects: ['payments.>'], configured: false },
  ],
  dlqStream: 'FN_DLQ',
  outputs: ['mail.send'],
}
const set: RolePermissionSet = rolePermissions(scope)

/** True when a subscription or publish to `subject` is allowed by `pattern` (NATS wildcards). */
function allows(pattern: string, subject: string): boolean {
  const p = pattern.split('.')
  const s = subject.split('.')
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false
  }
  return p.length === s.length
}
const may = (list: string[], subject: string): boolean => list.some((p) => allows(p, subject))

describe('rolePermissions', () => {
  it('uses exact subjects: no token holds a wildcard without being one', () => {
    for (const role of ROLES) {
      for (const subject of [...set[role].publish, ...set[role].subscribe]) expect(partialWildcardToken(subject), `${role}: ${subject}`).toBeUndefined()
    }
    expect(partialWildcardToken('$JS.API.CONSUMER.INFO.ORDERS.fn_*')).toBe('fn_*')
  })

  it('gives each role its own inbox prefix, and lets no one read another role’s replies but the deployer the viewer’s', () => {
    expect(new Set(ROLES.map((r) => set[r].inboxPrefix)).size).toBe(3)
    for (const role of ROLES) {
      expect(set[role].inboxPrefix).toBe(ROLE_INBOX_PREFIX[role])
      expect(set[role].inboxPrefix).toMatch(/^_INBOX\./)
      expect(may(set[role].subscribe, `${set[role].inboxPrefix}.abc.1`)).toBe(true)
      expect(may(set[role].subscribe, '_INBOX.abc.1')).toBe(false)
    }
    expect(may(set.replica.subscribe, '_INBOX.jetfn.deployer.x.1')).toBe(false)
    expect(may(set.replica.subscribe, '_INBOX.jetfn.viewer.x.1')).toBe(false)
    expect(may(set.viewer.subscribe, '_INBOX.jetfn.replica.x.1')).toBe(false)
    expect(may(set.viewer.subscribe, '_INBOX.jetfn.deployer.x.1')).toBe(false)
    expect(may(set.deployer.subscribe, '_INBOX.jetfn.replica.x.1')).toBe(false)
    expect(may(set.deployer.subscribe, '_INBOX.jetfn.viewer.x.1')).toBe(true)
  })

  it('lets a replica pull and settle its functions’ consumers, by name, in both ack forms', () => {
    const p = set.replica.publish
    expect(p).toContain('$JS.API.CONSUMER.MSG.NEXT.ORDERS.fn_reserve-inventory')
    expect(p).toContain('$JS.API.CONSUMER.MSG.NEXT.PAYMENTS.fn_charge')
    expect(may(p, '$JS.ACK.ORDERS.fn_reserve-inventory.1.42.42.1700000000000000000.0')).toBe(true)
    expect(may(p, '$JS.ACK.hub.ACCHASH.ORDERS.fn_reserve-inventory.1.42.42.1700000000000000000.0.abc')).toBe(true)
    // Not another consumer of the stream, nor a function the project does not have.
    expect(may(p, '$JS.ACK.ORDERS.audit.1.42.42.1.0')).toBe(false)
    expect(may(p, '$JS.API.CONSUMER.MSG.NEXT.ORDERS.fn_other')).toBe(false)
    expect(may(set.replica.subscribe, '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.PAYMENTS.fn_charge')).toBe(true)
  })

  it('lets a replica publish outputs, dead letters and events, and answer watchers', () => {
    const p = set.replica.publish
    for (const subject of ['orders.shipped', 'payments.x.done', 'mail.send', 'fn.dlq.charge', 'fn.events.charge', 'fn.logs.charge', '$O.FN_DLQ_PAYLOADS.C.abc']) expect(may(p, subject), subject).toBe(true)
    expect(may(p, 'fn.dlq.someone-else')).toBe(false)
    expect(may(p, 'billing.x')).toBe(false)
    expect(may(set.replica.subscribe, 'fn.watch.charge')).toBe(true)
    expect(set.replica.allowResponses).toBe(true)
    expect(set.viewer.allowResponses).toBe(false)
    expect(set.deployer.allowResponses).toBe(false)
  })

  it('never lets a replica or a viewer create, update, delete or purge anything, or write the registry', () => {
    const writes = /^\$JS\.API\.(STREAM\.(CREATE|UPDATE|DELETE|PURGE|MSG\.DELETE)|CONSUMER\.(DURABLE\.CREATE|CREATE\.(ORDERS|PAYMENTS)|DELETE\.(ORDERS|PAYMENTS)|PAUSE\.))|^\$KV\.FN_FUNCTIONS\.|^\$O\.FN_BUNDLES\./
    expect(set.replica.publish.filter((s) => writes.test(s))).toEqual([])
    // Its only KV writes: the shared rate state of its rate-limited functions.
    expect(set.replica.publish.filter((s) => s.startsWith('$KV.'))).toEqual(['$KV.FN_RATES.charge'])
    expect(set.viewer.publish.filter((s) => s.startsWith('$KV.'))).toEqual([])
    expect(set.viewer.publish.filter((s) => writes.test(s) || s.startsWith('$O.'))).toEqual([])
    // A viewer publishes nothing to the functions or their outputs (only watch requests and `nats micro` questions).
    expect(set.viewer.publish.filter((s) => !s.startsWith('$JS.') && !s.startsWith('fn.watch.') && !s.startsWith('$SRV.') && !s.startsWith('fn.status.'))).toEqual([])
  })

  it('lets a deployer provision each function’s consumer by name, write its manifest, and do all a viewer does', () => {
    const p = set.deployer.publish
    expect(p).toEqual(expect.arrayContaining(['$JS.API.CONSUMER.CREATE.ORDERS.fn_reserve-inventory.>', '$JS.API.CONSUMER.DELETE.PAYMENTS.fn_charge', '$KV.FN_FUNCTIONS.charge']))
    expect(may(p, '$JS.API.CONSUMER.CREATE.PAYMENTS.fn_charge.payments.*.requested')).toBe(true)
    expect(may(p, '$JS.API.STREAM.CREATE.ORDERS')).toBe(true)
    // PAYMENTS is the server's, not fn.config.ts's: found and read, never changed.
    expect(may(p, '$JS.API.STREAM.UPDATE.PAYMENTS')).toBe(false)
    expect(p).toContain('$JS.API.STREAM.NAMES')
    expect(may(p, '$KV.FN_FUNCTIONS.other')).toBe(false)
    for (const s of set.viewer.publish) expect(may(p, s), s).toBe(true)
    for (const s of set.viewer.subscribe) expect(may(set.deployer.subscribe, s), s).toBe(true)
  })

  it('lets a deployer pause and replay a function, and a replica share only its limited functions’ rate buckets', () => {
    expect(set.deployer.publish).toContain('$JS.API.CONSUMER.PAUSE.ORDERS.fn_reserve-inventory')
    expect(may(set.deployer.publish, '$JS.API.CONSUMER.CREATE.PAYMENTS.fn_charge_replay.payments.*.requested')).toBe(true)
    // A replay consumer is created with the function's own subject only, under its one name.
    expect(may(set.deployer.publish, '$JS.API.CONSUMER.CREATE.PAYMENTS.fn_charge_replay.payments.>')).toBe(false)
    expect(may(set.deployer.publish, '$JS.API.CONSUMER.CREATE.PAYMENTS.fn_other.payments.*.requested')).toBe(false)
    // A replica pulls and settles a function's replay, and no other consumer of the stream.
    expect(may(set.replica.publish, '$JS.API.CONSUMER.MSG.NEXT.PAYMENTS.fn_charge_replay')).toBe(true)
    expect(may(set.replica.publish, '$JS.ACK.PAYMENTS.fn_charge_replay.1.2.3.4.5')).toBe(true)
    expect(may(set.replica.publish, '$JS.API.CONSUMER.MSG.NEXT.PAYMENTS.fn_other')).toBe(false)
    // fn ls shows a replay's progress to a viewer.
    expect(may(set.viewer.publish, '$JS.API.CONSUMER.INFO.PAYMENTS.fn_charge_replay')).toBe(true)
    expect(may(set.replica.publish, '$KV.FN_RATES.charge')).toBe(true)
    expect(may(set.replica.publish, '$KV.FN_RATES.reserve-inventory')).toBe(false)
    expect(set.deployer.publish).toContain('$JS.API.STREAM.CREATE.KV_FN_RATES')
    const unlimited = rolePermissions({ ...scope, functions: scope.functions.map((f) => ({ ...f, rateLimited: false })) })
    expect([...unlimited.replica.publish, ...unlimited.deployer.publish].filter((p) => p.includes('FN_RATES'))).toEqual([])
  })

  it('lists each subject once', () => {
    for (const role of ROLES) expect(new Set(set[role].publish).size).toBe(set[role].publish.length)
  })
})

describe('commandRole', () => {
  it.each([
    ['start', undefined, 'replica'],
    ['deploy', undefined, 'deployer'],
    ['rm', undefined, 'deployer'],
    ['rollback', undefined, 'deployer'],
    ['invoke', undefined, 'deployer'],
    ['dlq', 'replay', 'deployer'],
    ['dlq', 'purge', 'deployer'],
    ['dlq', 'ls', 'viewer'],
    ['dlq', 'show', 'viewer'],
    ['ls', undefined, 'viewer'],
    ['logs', undefined, 'viewer'],
  ])('fn %s %s runs as the %s', (command, sub, role) => {
    expect(commandRole(command, sub)).toBe(role)
  })
})

describe('formats', () => {
  const summary = { functions: ['charge', 'reserve-inventory'], streams: ['ORDERS', 'PAYMENTS', 'FN_DLQ'] }

  it('prints a permissions variable per role and users whose passwords come from the environment', () => {
    const text = formatServerConfig(set, summary)
    expect(text).toMatch(/^JETFN_REPLICA = \{$/m)
    expect(text).toMatch(/^ {2}allow_responses: true$/m)
    expect(text).toContain('{ user: "jetfn-deployer", password: $JETFN_DEPLOYER_PASSWORD, permissions: $JETFN_DEPLOYER }')
    expect(text).toContain('"$JS.API.CONSUMER.MSG.NEXT.ORDERS.fn_reserve-inventory"')
  })

  it('prints one nsc add user per role, quoted for the shell', () => {
    const text = formatNsc(set, summary)
    expect(text.match(/^nsc add user --name jetfn-(replica|deployer|viewer) \\$/gm)).toHaveLength(3)
    expect(text).toContain(`--allow-sub '${set.viewer.subscribe.join(',')}'`)
    expect(text.match(/--allow-pub-response=1/g)).toHaveLength(1)
  })
})

describe('permissionDenied', () => {
  const violation = Object.assign(new Error("Permissions Violation for Publish to \"$KV.FN_FUNCTIONS.work\""), { name: 'PermissionViolationError', operation: 'publish', subject: '$KV.FN_FUNCTIONS.work' })

  it('finds the violation in the cause chain and names the subject', () => {
    const err = permissionDenied(new Error('request failed', { cause: violation }), [], 'deployer')!
    expect(err.code).toBe(FnErrorCode.PermissionDenied)
    expect(err.message).toBe("the NATS server refused to let this user publish to '$KV.FN_FUNCTIONS.work'")
    expect(err.hint).toContain("this command needs the 'deployer' role")
    expect(findViolation(violation)).toEqual({ operation: 'publish', subject: '$KV.FN_FUNCTIONS.work' })
  })

  it('reports a timeout after a violation by the violation, but not a verdict of jetfn’s own', () => {
    const seen = [{ operation: 'subscription' as const, subject: '_INBOX.jetfn.viewer.abc.*' }]
    const timeout = Object.assign(new Error('timeout'), { name: 'TimeoutError' })
    expect(permissionDenied(timeout, seen)?.message).toBe("the NATS server refused to let this user subscribe to '_INBOX.jetfn.viewer.>' (replies to the 'viewer' role)")
    expect(permissionDenied(timeout, seen)?.hint).toContain("this command needs the 'viewer' role")
    expect(permissionDenied(new FnError(FnErrorCode.FunctionNotFound, 'no function named x'), seen)).toBeUndefined()
    expect(permissionDenied(timeout, [])).toBeUndefined()
  })
})

describe('rolePermissions for schedules', () => {
  const scheduled = rolePermissions({
    ...scope,
    functions: [...scope.functions, { name: 'nightly', subject: 'fn.schedule.nightly', stream: 'FN_SCHEDULES', scheduled: true }, { name: 'settle', subject: 'orders.*', stream: 'ORDERS', debounced: true }],
  })
  it("lets the deployer provision FN_SCHEDULES and write a scheduled function's schedule, and no one else", () => {
    for (const s of ['$JS.API.STREAM.CREATE.FN_SCHEDULES', '$JS.API.CONSUMER.CREATE.FN_SCHEDULES.fn_delayed.fn.delayed.*', 'fn.schedules.cron.nightly', '$JS.API.STREAM.PURGE.FN_SCHEDULES', '$JS.API.CONSUMER.CREATE.FN_SCHEDULES.fn_nightly.fn.schedule.nightly']) {
      expect(may(scheduled.deployer.publish, s), s).toBe(true)
      expect(may(scheduled.replica.publish, s), s).toBe(false)
    }
  })
  it('lets a replica store delayed outputs and debounce runs, relay the due ones, and run ticks', () => {
    for (const s of ['fn.schedules.at.abc', 'fn.schedules.debounce.settle.abc', '$JS.API.STREAM.MSG.GET.FN_SCHEDULES', '$JS.API.CONSUMER.MSG.NEXT.FN_SCHEDULES.fn_delayed', '$JS.ACK.FN_SCHEDULES.fn_delayed.1.2.3.4.5', '$JS.API.CONSUMER.MSG.NEXT.FN_SCHEDULES.fn_nightly']) {
      expect(may(scheduled.replica.publish, s), s).toBe(true)
    }
    expect(may(scheduled.replica.publish, 'fn.schedules.debounce.other.abc')).toBe(false)
    expect(may(scheduled.replica.publish, 'fn.schedules.cron.nightly')).toBe(false)
  })
  it('lets a viewer list schedules', () => {
    expect(may(scheduled.viewer.publish, '$JS.API.STREAM.INFO.FN_SCHEDULES')).toBe(true)
    expect(may(scheduled.viewer.publish, '$JS.API.STREAM.MSG.GET.FN_SCHEDULES')).toBe(true)
    expect(may(scheduled.viewer.publish, 'fn.schedules.at.x')).toBe(false)
  })
})
