/**
 * Parses the command line into a command and its flags, with `node:util` `parseArgs`. Exported so
 * tests call it without spawning a process. Each command declares its flags and arguments; a flag
 * another command owns is refused with the command that takes it.
 */
import { parseArgs } from 'node:util'
import { parseDuration } from '../config/duration.ts'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { DEFAULT_ACCOUNT, DEFAULT_K8S_OUT_DIR, DEFAULT_MAX_REPLICAS, DEFAULT_MIN_REPLICAS, DEFAULT_MONITORING_ENDPOINT, type K8sFlags } from '../k8s/k8s-options.ts'

export const COMMANDS = ['init', 'dev', 'start', 'deploy', 'rm', 'rollback', 'pause', 'resume', 'replay', 'ls', 'schedules', 'invoke', 'logs', 'dlq', 'auth', 'k8s', 'help'] as const
export type CommandName = (typeof COMMANDS)[number]

/** Sub-commands of `fn dlq`. */
export const DLQ_COMMANDS = ['ls', 'show', 'replay', 'purge'] as const

/** Flags that only some commands take. */
export interface CommandOptions {
  /** `--to <version>` (rollback). */
  to?: string
  /** `--json`: machine-readable output (ls, dlq ls/show, logs, invoke). */
  json?: boolean
  /** `--data <json>` (invoke). */
  data?: string
  /** `--file <path>` (invoke). */
  file?: string
  /** `--no-wait` (invoke): publish and return. */
  noWait?: boolean
  /** `--timeout <ms>` (invoke): how long to wait for the outcome. Default 30 000. */
  timeoutMs?: number
  /** `--delay <duration>` (invoke): publish that much later, as a delayed message, and return. */
  delayMs?: number
  /** `--seq N` (dlq replay/purge), repeatable: stream sequences in the DLQ. */
  seq?: number[]
  /** `--all` (dlq replay). */
  all?: boolean
  /** `--dry-run` (dlq replay). */
  dryRun?: boolean
  /** `--follow` (logs). */
  follow?: boolean
  /** `--force` (init, k8s): overwrite files that exist. */
  force?: boolean
  /** `--until <time|duration>` (pause): when the pause ends; absent means until `fn resume`. */
  until?: Date
  /** `--from-seq N` (replay): the first stream sequence to re-run. */
  fromSeq?: number
  /** `--since <time|duration>` (replay): re-run what was stored from then (a duration counts back from now). */
  since?: Date
  /** `--yes` (replay): do not ask for confirmation. */
  yes?: boolean
  /** `--wait` (replay): follow the replay until every message has settled. */
  wait?: boolean
  /** The flags of `fn k8s`, as written (validated by the command). */
  k8s?: K8sFlags
  /** `--bind-only` (start): bind to what `fn deploy` provisioned, create nothing (as `provision: false`). */
  bindOnly?: boolean
  /** `--nsc` (auth): print `nsc add user` commands instead of the nats-server config. */
  nsc?: boolean
}

export interface ParsedArgs {
  command: CommandName
  /** `--config <file>`; default `./fn.config.ts`. */
  config: string | undefined
  verbose: boolean
  positionals: string[]
  options: CommandOptions
  /** `fn <command> --help`: show that command's usage. */
  help?: CommandName
}

interface CommandSpec {
  usage: string
  summary: string
  /** More help for `fn <command> --help`: flags and defaults. */
  details?: string
  args: [min: number, max: number]
  flags: Array<keyof typeof FLAG_DEFS>
}

const FLAG_DEFS = {
  to: { type: 'string' },
  json: { type: 'boolean' },
  data: { type: 'string' },
  file: { type: 'string' },
  'no-wait': { type: 'boolean' },
  timeout: { type: 'string' },
  delay: { type: 'string' },
  seq: { type: 'string', multiple: true },
  all: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  follow: { type: 'boolean', short: 'f' },
  force: { type: 'boolean' },
  until: { type: 'string' },
  'from-seq': { type: 'string' },
  since: { type: 'string' },
  yes: { type: 'boolean', short: 'y' },
  wait: { type: 'boolean' },
  out: { type: 'string' },
  image: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  name: { type: 'string' },
  min: { type: 'string' },
  max: { type: 'string' },
  replicas: { type: 'string' },
  monitoring: { type: 'string' },
  'monitoring-https': { type: 'boolean' },
  account: { type: 'string' },
  'activation-lag': { type: 'string' },
  cpu: { type: 'string' },
  memory: { type: 'string' },
  auth: { type: 'string' },
  'bind-only': { type: 'boolean' },
  nsc: { type: 'boolean' },
} as const

const K8S_DETAILS = `Writes, for a cluster of replicas (\`fn start --bind-only\`) scaled by KEDA on each function's backlog:
  <out>/deployment.yaml      Deployment: probes /readyz and /healthz on http.port, non-root, read-only root,
                             terminationGracePeriodSeconds above shutdownGrace, NATS URL and credentials from the Secret
  <out>/scaledobject.yaml    KEDA ScaledObject: one nats-jetstream trigger per function (consumer fn_<name>,
                             lagThreshold = its concurrency)
  <out>/secret.yaml.example  the Secret, with placeholders (kubectl apply -f <out>/ skips it)
  Dockerfile, .dockerignore  the image: node:20-slim, npm ci --omit=dev, fn.config.ts; functions come from NATS
A re-run rewrites only files whose first line says fn k8s wrote them, and removes the ones it no longer writes.

flags:
  --out <dir>              where the YAML goes (default ${DEFAULT_K8S_OUT_DIR})
  --image <ref>            the image the pods run (default <package name>:<package version>)
  --namespace, -n <ns>     namespace of every object (default: none, kubectl's current one)
  --name <name>            name of the Deployment and ScaledObject; the Secret is <name>-nats (default: from the package name)
  --min <n>                KEDA minReplicaCount; 0 scales to zero when no function has a backlog (default ${DEFAULT_MIN_REPLICAS})
  --max <n>                KEDA maxReplicaCount (default ${DEFAULT_MAX_REPLICAS})
  --monitoring <host:port> nats-server monitoring endpoint KEDA reads; in a NATS cluster, a headless service
                           whose pods resolve as <server name>.<host> (default ${DEFAULT_MONITORING_ENDPOINT})
  --monitoring-https       the monitoring endpoint speaks HTTPS
  --account <name|id>      NATS account of the streams; in operator mode its public key (default ${DEFAULT_ACCOUNT})
  --activation-lag <n>     backlog above which a function wakes a Deployment scaled to zero (default 0)
  --replicas <n>           a fixed number of replicas instead: no ScaledObject
  --cpu <quantity>         CPU request (default: pool.threads if fn.config.ts sets it, else 1)
  --memory <quantity>      memory request and limit (default: pool.threads x pool.maxOldGenerationSizeMb + 256Mi, else 1Gi)
  --auth <method>          how pods authenticate: creds, token, user, nkey or none (default: what fn.config.ts uses);
                           the Secret carries it, and fn.config.ts reads it from NATS_CREDS (a mounted file's path),
                           NATS_TOKEN, NATS_USER/NATS_PASSWORD or NATS_NKEY (a seed file's path); TLS files from NATS_CA,
                           NATS_CERT, NATS_KEY
  --force                  overwrite files that fn k8s did not write (a Dockerfile of your own)`

export const COMMAND_SPECS: Record<CommandName, CommandSpec> = {
  init: { usage: 'fn init [dir] [--force]', summary: 'scaffold a project (package.json, tsconfig.json, fn.config.ts, functions/hello.ts); adds only what is missing unless --force', args: [0, 1], flags: ['force'] },
  dev: { usage: 'fn dev', summary: 'embedded nats-server (or NATS_URL), deploy ./functions, run a replica, redeploy on save', args: [0, 0], flags: [] },
  start: {
    usage: 'fn start [--bind-only]',
    summary: 'a production replica: runs every deployed function, follows deploys, /healthz /readyz /metrics; --bind-only creates nothing (fn deploy provisions)',
    args: [0, 0],
    flags: ['bind-only'],
  },
  deploy: { usage: 'fn deploy [names...]', summary: 'bundle and deploy functions (all of ./functions, or the ones named)', args: [0, Infinity], flags: [] },
  rm: { usage: 'fn rm <function>', summary: 'remove a function: every replica stops it, its consumer is deleted', args: [1, 1], flags: [] },
  rollback: { usage: 'fn rollback <function> [--to <version>]', summary: 're-deploy the previous version (or the one whose hash starts with --to)', args: [1, 1], flags: ['to'] },
  pause: { usage: 'fn pause <function> [--until <time|duration>] [--json]', summary: 'stop delivering a function\'s messages on every replica (they wait in the stream) until `fn resume` or --until (an ISO time, or a duration such as 2h)', args: [1, 1], flags: ['until', 'json'] },
  resume: { usage: 'fn resume <function> [--json]', summary: 'deliver a paused function\'s messages again', args: [1, 1], flags: ['json'] },
  replay: { usage: 'fn replay <function> (--from-seq N | --since <time|duration>) [--yes] [--wait]', summary: "re-run what the function's stream holds from a point, on the version deployed; outputs are published again", args: [1, 1], flags: ['from-seq', 'since', 'yes', 'wait'] },
  ls: { usage: 'fn ls [--json]', summary: 'deployed functions: version, subject, pending, in flight, redelivered, DLQ count', args: [0, 0], flags: ['json'] },
  schedules: { usage: 'fn schedules [--json]', summary: 'schedules in FN_SCHEDULES: cron and every of functions, delayed messages, debounce runs; function, spec, time zone, next fire time', args: [0, 0], flags: ['json'] },
  invoke: {
    usage: 'fn invoke <function> (--data <json> | --file <path>) [--delay <duration>] [--no-wait] [--timeout <ms>] [--json]',
    summary: "publish to a function's subject and show the outcome; --delay stores it as a delayed message (due then) and returns",
    args: [1, 1],
    flags: ['data', 'file', 'delay', 'no-wait', 'timeout', 'json'],
  },
  logs: { usage: 'fn logs <function> [--follow] [--json]', summary: "live tail of a function's invocations and log lines", args: [1, 1], flags: ['follow', 'json'] },
  k8s: {
    usage: 'fn k8s [--out <dir>] [--image <ref>] [--namespace <ns>] [--min <n>] [--max <n>] [--monitoring <host:port>] [...]',
    summary: 'write Kubernetes manifests (Deployment, KEDA ScaledObject, Secret template) and a Dockerfile for the replicas',
    details: K8S_DETAILS,
    args: [0, 0],
    flags: ['out', 'image', 'namespace', 'name', 'min', 'max', 'replicas', 'monitoring', 'monitoring-https', 'account', 'activation-lag', 'cpu', 'memory', 'auth', 'force'],
  },
  dlq: { usage: 'fn dlq (ls | show | replay | purge) <function> [<seq>] [--seq N ...] [--all] [--dry-run] [--json]', summary: 'inspect and redrive dead letters', args: [2, 3], flags: ['seq', 'all', 'dry-run', 'json'] },
  auth: {
    usage: 'fn auth [--json | --nsc]',
    summary: 'NATS permissions of the replica, deployer and viewer roles for this project: nats-server config, nsc commands, or JSON',
    args: [0, 0],
    flags: ['json', 'nsc'],
  },
  help: { usage: 'fn help [command]', summary: 'show this text', args: [0, 1], flags: [] },
}

export function parseCliArgs(argv: readonly string[]): ParsedArgs {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        ...FLAG_DEFS,
      },
    })
  } catch (err) {
    throw new FnError(FnErrorCode.UsageInvalid, (err as Error).message, { hint: 'run `fn help`' })
  }
  const v = parsed.values
  const [first, ...rest] = parsed.positionals
  const base = { config: v.config, verbose: v.verbose ?? false }
  if (v.help || first === undefined || first === 'help') {
    const topic = v.help ? first : rest[0]
    const help = topic !== undefined && isCommand(topic) ? topic : undefined
    return { command: 'help', ...base, positionals: first === 'help' ? rest : [], options: {}, ...(help ? { help } : {}) }
  }
  if (!isCommand(first)) {
    throw new FnError(FnErrorCode.UsageInvalid, `unknown command '${first}'`, { hint: `commands: ${COMMANDS.join(', ')}` })
  }
  const spec = COMMAND_SPECS[first]
  for (const flag of Object.keys(FLAG_DEFS) as Array<keyof typeof FLAG_DEFS>) {
    if (v[flag] !== undefined && !spec.flags.includes(flag)) {
      const owners = COMMANDS.filter((c) => COMMAND_SPECS[c].flags.includes(flag)).map((c) => `'fn ${c}'`)
      throw new FnError(FnErrorCode.UsageInvalid, `'--${flag}' is only for ${owners.join(', ')}`, { hint: `usage: ${spec.usage}` })
    }
  }
  const [min, max] = spec.args
  if (rest.length < min) throw new FnError(FnErrorCode.UsageInvalid, `missing argument: usage: ${spec.usage}`)
  if (rest.length > max) throw new FnError(FnErrorCode.UsageInvalid, `unexpected argument '${rest[max]}': usage: ${spec.usage}`)
  if (first === 'replay' && (v['from-seq'] === undefined) === (v.since === undefined)) {
    throw new FnError(FnErrorCode.UsageInvalid, 'fn replay needs one of --from-seq or --since', { hint: `usage: ${spec.usage}` })
  }
  if (first === 'dlq' && !(DLQ_COMMANDS as readonly string[]).includes(rest[0]!)) {
    throw new FnError(FnErrorCode.UsageInvalid, `unknown dlq command '${rest[0]}'`, { hint: `usage: ${spec.usage}` })
  }
  return { command: first, ...base, positionals: rest, options: commandOptions(v) }
}

function isCommand(name: string): name is CommandName {
  return (COMMANDS as readonly string[]).includes(name)
}

function commandOptions(v: Record<string, unknown>): CommandOptions {
  const o: CommandOptions = {}
  if (typeof v.to === 'string') o.to = v.to
  if (v.json === true) o.json = true
  if (typeof v.data === 'string') o.data = v.data
  if (typeof v.file === 'string') o.file = v.file
  if (v['no-wait'] === true) o.noWait = true
  if (typeof v.timeout === 'string') o.timeoutMs = positiveInt('--timeout', v.timeout)
  if (typeof v.delay === 'string') o.delayMs = durationFlag('--delay', v.delay)
  if (Array.isArray(v.seq)) o.seq = (v.seq as string[]).map((s) => positiveInt('--seq', s))
  if (v.all === true) o.all = true
  if (v['dry-run'] === true) o.dryRun = true
  if (v.follow === true) o.follow = true
  if (v.force === true) o.force = true
  if (typeof v.until === 'string') o.until = pointInTime('--until', v.until)
  if (typeof v['from-seq'] === 'string') o.fromSeq = positiveInt('--from-seq', v['from-seq'])
  if (typeof v.since === 'string') o.since = pointInTime('--since', v.since, -1)
  if (v.yes === true) o.yes = true
  if (v.wait === true) o.wait = true
  const k8s: K8sFlags = {}
  const str = (key: string) => (typeof v[key] === 'string' ? (v[key] as string) : undefined)
  for (const [flag, key] of K8S_FLAG_KEYS) if (str(flag) !== undefined) (k8s as Record<string, unknown>)[key] = str(flag)
  if (v['monitoring-https'] === true) k8s.monitoringHttps = true
  if (v.force === true) k8s.force = true
  if (Object.keys(k8s).length > 0) o.k8s = k8s
  if (v['bind-only'] === true) o.bindOnly = true
  if (v.nsc === true) o.nsc = true
  return o
}

const K8S_FLAG_KEYS: ReadonlyArray<[flag: string, key: keyof K8sFlags]> = [
  ['out', 'out'],
  ['image', 'image'],
  ['namespace', 'namespace'],
  ['name', 'name'],
  ['min', 'min'],
  ['max', 'max'],
  ['replicas', 'replicas'],
  ['monitoring', 'monitoring'],
  ['account', 'account'],
  ['activation-lag', 'activationLag'],
  ['cpu', 'cpu'],
  ['memory', 'memory'],
  ['auth', 'auth'],
]

/**
 * A time: a duration from now (`'90m'`, `'2h'`; ahead, or back with `direction` -1) or a date and
 * time (`'2026-12-01T09:00:00Z'`).
 */
function pointInTime(flag: string, value: string, direction: 1 | -1 = 1): Date {
  try {
    return new Date(Date.now() + direction * parseDuration(value))
  } catch {
    // not a duration: a time, below
  }
  const at = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN
  if (Number.isNaN(at)) {
    throw new FnError(FnErrorCode.UsageInvalid, `${flag} must be a duration such as 30m or 2h, or an ISO date and time such as 2026-12-01T09:00:00Z (got '${value}')`)
  }
  return new Date(at)
}

function durationFlag(flag: string, value: string): number {
  try {
    return parseDuration(value)
  } catch {
    throw new FnError(FnErrorCode.UsageInvalid, `${flag} must be a duration such as 30s, 10m or 2h (got '${value}')`)
  }
}

function positiveInt(flag: string, value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new FnError(FnErrorCode.UsageInvalid, `${flag} must be a positive whole number (got '${value}')`)
  }
  return n
}

/** `fn help`, or `fn <command> --help`. */
export function usage(command?: CommandName): string {
  if (command && command !== 'help') {
    const spec = COMMAND_SPECS[command]
    return `usage: ${spec.usage}\n\n${spec.summary}\n\n${spec.details ? `${spec.details}\n\n` : ''}Every command reads ./fn.config.ts (or --config <file>) and honours NATS_URL; --verbose shows stack traces.`
  }
  const width = Math.max(...COMMANDS.map((c) => c.length))
  const lines = COMMANDS.map((c) => `  ${c.padEnd(width)}  ${COMMAND_SPECS[c].summary}`)
  return `usage: fn <command> [--config <file>] [--verbose]\n\ncommands:\n${lines.join('\n')}\n\nRun \`fn <command> --help\` for its flags. Every command reads ./fn.config.ts (or --config <file>) and honours NATS_URL.`
}

/** The whole help text. */
export const USAGE = usage()
