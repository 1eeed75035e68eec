import { describe, expect, it } from 'vitest'
import { FnError, FnErrorCode } from '../../runtime/errors/fn-error.ts'
import { parseCliArgs, usage, USAGE } from '../../runtime/cli/parse-args.ts'

/** The FnError thrown by parsing `argv`. */
function failure(argv: string[]): FnError {
  try {
    parseCliArgs(argv)
  } catch (err) {
    if (err instanceof FnError) return err
    throw err
  }
  throw new Error(`parseCliArgs(${JSON.stringify(argv)}) did not throw`)
}

describe('parseCliArgs', () => {
  it('reads `dev` with the defaults', () => {
    expect(parseCliArgs(['dev'])).toEqual({ command: 'dev', config: undefined, verbose: false, positionals: [], options: {} })
  })

  it.each([
    [['dev', '--config', 'x.ts']],
    [['dev', '--config=x.ts']],
    [['dev', '-c', 'x.ts']],
    [['--config', 'x.ts', 'dev']],
  ])('reads the config file from %j', (argv) => {
    expect(parseCliArgs(argv)).toEqual({ command: 'dev', config: 'x.ts', verbose: false, positionals: [], options: {} })
  })

  it.each([[['dev', '--verbose']], [['dev', '-v']], [['--verbose', 'dev']]])('reads verbose from %j', (argv) => {
    expect(parseCliArgs(argv)).toEqual({ command: 'dev', config: undefined, verbose: true, positionals: [], options: {} })
  })

  it('reads every flag together', () => {
    expect(parseCliArgs(['dev', '-v', '-c', 'conf/fn.config.ts'])).toEqual({
      command: 'dev',
      config: 'conf/fn.config.ts',
      verbose: true,
      positionals: [],
      options: {},
    })
  })

  it('passes the positionals after the command on', () => {
    expect(parseCliArgs(['deploy', 'orders', 'payments']).positionals).toEqual(['orders', 'payments'])
  })

  it('reads rollback with --to, and refuses --to elsewhere', () => {
    expect(parseCliArgs(['rollback', 'charge', '--to', 'abc123'])).toMatchObject({ command: 'rollback', positionals: ['charge'], options: { to: 'abc123' } })
    expect(() => parseCliArgs(['deploy', '--to', 'abc'])).toThrow("'--to' is only for 'fn rollback'")
  })

  it('reads the flags of invoke, dlq and logs', () => {
    expect(parseCliArgs(['invoke', 'greet', '--data', '{"a":1}', '--no-wait', '--timeout', '5000']).options).toEqual({ data: '{"a":1}', noWait: true, timeoutMs: 5000 })
    expect(parseCliArgs(['dlq', 'replay', 'greet', '--seq', '3', '--seq', '9', '--dry-run'])).toMatchObject({ positionals: ['replay', 'greet'], options: { seq: [3, 9], dryRun: true } })
    expect(parseCliArgs(['logs', 'greet', '-f', '--json']).options).toEqual({ follow: true, json: true })
    expect(() => parseCliArgs(['dlq', 'purge', 'greet', '--seq', 'x'])).toThrow("--seq must be a positive whole number (got 'x')")
    expect(() => parseCliArgs(['dlq', 'drop', 'greet'])).toThrow("unknown dlq command 'drop'")
    expect(() => parseCliArgs(['ls', '--follow'])).toThrow("'--follow' is only for 'fn logs'")
  })

  it('fn <command> --help asks for that command\'s usage', () => {
    expect(parseCliArgs(['invoke', '--help'])).toMatchObject({ command: 'help', help: 'invoke' })
    expect(parseCliArgs(['help', 'dlq'])).toMatchObject({ command: 'help', help: 'dlq' })
    expect(usage('dlq')).toMatch(/^usage: fn dlq \(ls \| show \| replay \| purge\)/)
  })

  it.each([
    [['rm'], 'missing argument: usage: fn rm <function>'],
    [['rm', 'a', 'b'], "unexpected argument 'b': usage: fn rm <function>"],
    [['rollback'], 'missing argument: usage: fn rollback <function> [--to <version>]'],
    [['dev', 'extra'], "unexpected argument 'extra': usage: fn dev"],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(message)
  })

  it.each([[[]], [['help']], [['--help']], [['-h']], [['dev', '--help']], [['--help', 'nonsense']]])(
    '%j → help',
    (argv) => {
      expect(parseCliArgs(argv).command).toBe('help')
    },
  )

  it('refuses an unknown command, naming it and listing the commands', () => {
    const err = failure(['deploy-everything'])
    expect(err.code).toBe(FnErrorCode.UsageInvalid)
    expect(err.code).toBe('FN_USAGE_INVALID')
    expect(err.message).toBe("unknown command 'deploy-everything'")
    expect(err.hint).toBe('commands: init, dev, start, deploy, rm, rollback, pause, resume, replay, ls, schedules, invoke, logs, dlq, auth, k8s, help')
  })

  it.each([[['dev', '--nope']], [['dev', '-x']], [['dev', '--config']], [['dev', '--verbose=yes']]])(
    'refuses %j with FN_USAGE_INVALID and a hint',
    (argv) => {
      const err = failure(argv)
      expect(err.code).toBe('FN_USAGE_INVALID')
      expect(err.hint).toBe('run `fn help`')
    },
  )

  it('gathers the flags of fn k8s as written, for the command to validate, and keeps them off other commands', () => {
    const args = parseCliArgs(['k8s', '--image', 'ghcr.io/acme/orders:1', '-n', 'shop', '--min', '0', '--monitoring', 'nats:8222', '--monitoring-https', '--activation-lag', '5', '--force'])
    expect(args.options.k8s).toEqual({ image: 'ghcr.io/acme/orders:1', namespace: 'shop', min: '0', monitoring: 'nats:8222', monitoringHttps: true, activationLag: '5', force: true })
    expect(failure(['deploy', '--image', 'x']).message).toBe("'--image' is only for 'fn k8s'")
    expect(usage('k8s')).toMatch(/--monitoring <host:port> +nats-server monitoring endpoint KEDA reads/)
    for (const flag of ['--out <dir>', '--image <ref>', '--namespace, -n <ns>', '--name <name>', '--min <n>', '--max <n>', '--monitoring-https', '--account <name|id>', '--activation-lag <n>', '--replicas <n>', '--cpu <quantity>', '--memory <quantity>', '--auth <method>', '--force']) {
      expect(usage('k8s')).toContain(`  ${flag}`)
    }
  })

  it('reads pause --until as a duration from now or as an ISO time, and refuses anything else', () => {
    const before = Date.now()
    const until = parseCliArgs(['pause', 'f', '--until', '90m']).options.until!
    expect(until.getTime() - before).toBeGreaterThanOrEqual(90 * 60_000)
    expect(until.getTime() - Date.now()).toBeLessThanOrEqual(90 * 60_000)
    expect(parseCliArgs(['pause', 'f', '--until', '2026-12-01T09:00:00Z']).options.until).toEqual(new Date('2026-12-01T09:00:00Z'))
    expect(parseCliArgs(['pause', 'f']).options).toEqual({})
    for (const bad of ['soon', '10', '2026-13-45T00:00:00Z']) expect(failure(['pause', 'f', '--until', bad]).message).toContain(`(got '${bad}')`)
    expect(failure(['resume', 'f', '--until', '1h']).message).toBe("'--until' is only for 'fn pause'")
  })

  it('names the unknown flag', () => {
    expect(failure(['dev', '--nope']).message).toContain("'--nope'")
  })

  it('reads fn start --bind-only and fn auth --nsc / --json, and refuses them elsewhere', () => {
    expect(parseCliArgs(['start', '--bind-only'])).toMatchObject({ command: 'start', options: { bindOnly: true } })
    expect(parseCliArgs(['start']).options).toEqual({})
    expect(parseCliArgs(['auth', '--nsc'])).toMatchObject({ command: 'auth', options: { nsc: true } })
    expect(parseCliArgs(['auth', '--json'])).toMatchObject({ command: 'auth', options: { json: true } })
    expect(() => parseCliArgs(['dev', '--bind-only'])).toThrow("'--bind-only' is only for 'fn start'")
    expect(() => parseCliArgs(['ls', '--nsc'])).toThrow("'--nsc' is only for 'fn auth'")
    expect(() => parseCliArgs(['auth', 'x'])).toThrow("unexpected argument 'x': usage: fn auth [--json | --nsc]")
    expect(usage('start')).toMatch(/^usage: fn start \[--bind-only\]/)
  })

  it('does not keep state between calls', () => {
    parseCliArgs(['dev', '-v', '-c', 'a.ts'])
    expect(parseCliArgs(['dev'])).toEqual({ command: 'dev', config: undefined, verbose: false, positionals: [], options: {} })
  })
})

describe('USAGE', () => {
  it('lists every command and the common flags', () => {
    expect(USAGE).toMatch(/^usage: fn <command> \[--config <file>\] \[--verbose\]/)
    expect(USAGE).toMatch(/^ {2}dev /m)
    expect(USAGE).toMatch(/^ {2}help /m)
    expect(USAGE).toMatch(/^ {2}auth +NATS permissions of the replica, deployer and viewer roles/m)
  })
})
