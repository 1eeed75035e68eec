/**
 * The NATS permissions of each role, derived from data: a table of capabilities (what one
 * operation of jetfn publishes and subscribes to, checked against the nats.js 3.4 source and a
 * server that enforces them), and per role the capabilities it has. `fn auth` prints the result;
 * the tests configure servers from it.
 *
 * Subjects are exact, or use whole-token wildcards only: nats-server reads a partial token such
 * as `fn_*` literally (NATS-NOTES), so consumers are named one by one. Where nats.js picks a name
 * at random (the ordered consumers behind KV watches, Object Store reads and `fn dlq ls`), the
 * name is a `*` token and the rest of the subject pins what the consumer may read.
 */
import { consumerName, replayConsumerName } from '../nats/ensure-consumer.ts'
import { BUNDLES_BUCKET, FUNCTIONS_BUCKET } from '../deploy/manifest.ts'
import { DLQ_PAYLOADS_BUCKET, deadLetterSubject } from '../settle/dead-letter.ts'
import { eventsSubject, logsSubject } from '../observe/invocation-event.ts'
import { watchSubject } from '../observe/event-publisher.ts'
import { SERVICE_NAME, statusSubject } from '../observe/replica-service.ts'
import { RATES_BUCKET } from '../rate/shared-rate.ts'
import { ROLE_INBOX_PREFIX, ROLES, type Role } from './roles.ts'
import { cronScheduleSubject, debounceSchedules, delayScheduleSubject, RELAY_CONSUMER, SCHEDULES_STREAM } from '../schedule/schedule-subjects.ts'

/** What the permissions are computed from: the project as `fn deploy` sees it. */
export interface AuthScope {
  /** Every function of the project, with the stream its subject is in, and whether it has a `rateLimit`. */
  functions: ReadonlyArray<{ name: string; subject: string; stream: string; rateLimited?: boolean; keyed?: boolean; scheduled?: boolean; debounced?: boolean }>
  /** The streams of `fn.config.ts` and those the functions use, with their subjects. */
  streams: ReadonlyArray<{ name: string; subjects: readonly string[]; configured: boolean }>
  /** The DLQ stream (`dlq.stream`). */
  dlqStream: string
  /** Subjects handlers publish to outside those streams (`auth.outputs`). */
  outputs: readonly string[]
}

/** One role's permissions. Field names are a contract (`fn auth --json`). */
export interface RolePermissions {
  /** Subjects the role may publish to. */
  publish: string[]
  /** Subjects the role may subscribe to. */
  subscribe: string[]
  /** The nats.js `inboxPrefix` its connections use; only this role may subscribe under it. */
  inboxPrefix: string
  /**
   * The role answers requests of other roles (a replica answers `fn logs`' watch): it may
   * publish to a reply subject it received, once (nats-server `allow_responses`).
   */
  allowResponses: boolean
}

export type RolePermissionSet = Record<Role, RolePermissions>

interface Grant {
  publish?: string[]
  subscribe?: string[]
  allowResponses?: boolean
}

const API = '$JS.API'
const kvStream = `KV_${FUNCTIONS_BUCKET}`
const bundlesStream = `OBJ_${BUNDLES_BUCKET}`
const payloadsStream = `OBJ_${DLQ_PAYLOADS_BUCKET}`
const ratesStream = `KV_${RATES_BUCKET}`

/** Managing a stream: what `ensureStream` and the KV / Object Store `create` send. */
const provisionStream = (stream: string): string[] => [`${API}.STREAM.INFO.${stream}`, `${API}.STREAM.CREATE.${stream}`, `${API}.STREAM.UPDATE.${stream}`]

/**
 * Reading a KV bucket or an Object Store: stream info (`status`, `open`), one message, and
 * ordered push consumers with flow control for `keys`, `watch`, `history` and object reads (a
 * consumer reset deletes the old one). nats.js 3.4 reads one KV entry with a direct get by
 * subject when the stream allows it (else `STREAM.MSG.GET`), and asks KV consumers for their
 * info; an Object Store reads object info with `STREAM.MSG.GET` only, and never asks its consumers.
 */
function readStore(stream: string, subjects: string, kind: 'kv' | 'obj'): string[] {
  return [
    `${API}.STREAM.INFO.${stream}`,
    `${API}.STREAM.MSG.GET.${stream}`,
    ...(kind === 'kv' ? [`${API}.DIRECT.GET.${stream}`, `${API}.DIRECT.GET.${stream}.>`, `${API}.CONSUMER.INFO.${stream}.*`] : []),
    `${API}.CONSUMER.CREATE.${stream}.*.${subjects}`,
    `${API}.CONSUMER.DELETE.${stream}.*`,
    `$JS.FC.${stream}.>`,
  ]
}

/** Writing objects: chunks and the metadata record (a delete writes a metadata record too). */
const writeObjects = (bucket: string): string[] => [`$O.${bucket}.C.>`, `$O.${bucket}.M.>`]

/**
 * The consumer a function is bound to, as a replica pulls and settles it. A keyed function's
 * replica also lets go of its pin at shutdown, and reads the messages a replica it takes over from
 * left unsettled (to learn their keys).
 */
function bindConsumer(stream: string, consumer: string, keyed = false): Grant {
  return {
    publish: [
      ...(keyed ? [`${API}.CONSUMER.UNPIN.${stream}.${consumer}`, `${API}.STREAM.MSG.GET.${stream}`] : []),
      `${API}.CONSUMER.INFO.${stream}.${consumer}`,
      `${API}.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
      // Ack, nak, working, term: the 9-token form servers send today, and the 11-token form
      // (`$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.…`) they announce.
      `$JS.ACK.${stream}.${consumer}.>`,
      `$JS.ACK.*.*.${stream}.${consumer}.>`,
    ],
    subscribe: [`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`],
  }
}

type Capability = (s: AuthScope) => Grant

const perFunction = (s: AuthScope, fn: (f: AuthScope['functions'][number]) => Grant): Grant => merge(s.functions.map(fn))

/**
 * What each operation needs. A capability is named after what it lets a role do; the roles below
 * are lists of them.
 */
export const CAPABILITIES = {
  /** Reading the registry: manifests in KV `FN_FUNCTIONS` (get, list, history, watch). */
  readRegistry: () => ({ publish: readStore(kvStream, `$KV.${FUNCTIONS_BUCKET}.>`, 'kv') }),
  /** Fetching bundles from Object Store `FN_BUNDLES`. */
  readBundles: () => ({ publish: readStore(bundlesStream, `$O.${BUNDLES_BUCKET}.>`, 'obj') }),
  /** Creating the registry buckets and raising their replicas. */
  provisionRegistry: () => ({ publish: [...provisionStream(kvStream), ...provisionStream(bundlesStream)] }),
  /** Writing and deleting the project's manifests (deploy, rm, rollback) and storing bundles. */
  writeRegistry: (s) => ({
    publish: [
      ...s.functions.map((f) => `$KV.${FUNCTIONS_BUCKET}.${f.name}`),
      ...writeObjects(BUNDLES_BUCKET),
      // A bundle stored again (after a delete) drops its old chunks.
      `${API}.STREAM.PURGE.${bundlesStream}`,
    ],
  }),
  /** Creating and updating the configured streams; finding the stream of a function's subject. */
  provisionStreams: (s) => ({
    publish: [
      ...s.streams.filter((st) => st.configured).flatMap((st) => provisionStream(st.name)),
      // Looking a stream up by subject, only for functions whose stream is not in fn.config.ts.
      ...(s.streams.some((st) => !st.configured) ? [`${API}.STREAM.NAMES`] : []),
      ...s.streams.map((st) => `${API}.STREAM.INFO.${st.name}`),
    ],
  }),
  /** Creating, updating and deleting each function's durable consumer (deploy, rollback, rm, a move). */
  provisionConsumers: (s) =>
    perFunction(s, (f) => {
      const c = consumerName(f.name)
      // The create subject carries the filter subject after the name when there is one; pause
      // and resume (`fn pause`) are a request of their own.
      return {
        publish: [
          `${API}.CONSUMER.CREATE.${f.stream}.${c}`,
          `${API}.CONSUMER.CREATE.${f.stream}.${c}.>`,
          `${API}.CONSUMER.INFO.${f.stream}.${c}`,
          `${API}.CONSUMER.DELETE.${f.stream}.${c}`,
          `${API}.CONSUMER.PAUSE.${f.stream}.${c}`,
        ],
      }
    }),
  /**
   * `fn replay`: the replay's consumer `fn_<name>_replay` (one at a time per function) is created on
   * the function's subject, its progress read, and removed when done (or by `fn rm`).
   */
  replayFunctions: (s) =>
    perFunction(s, (f) => {
      const c = replayConsumerName(f.name)
      return { publish: [`${API}.CONSUMER.CREATE.${f.stream}.${c}.${f.subject}`, `${API}.CONSUMER.INFO.${f.stream}.${c}`, `${API}.CONSUMER.DELETE.${f.stream}.${c}`] }
    }),
  /** Running replays (`fn replay`): pulling and settling each function's replay consumer. */
  bindReplays: (s) => perFunction(s, (f) => bindConsumer(f.stream, replayConsumerName(f.name), f.keyed)),
  /** Taking tokens of the shared rate limits (`rateLimit`) in KV `FN_RATES`: read and compare-and-set. */
  shareRateLimits: (s) => {
    const limited = s.functions.filter((f) => f.rateLimited)
    if (limited.length === 0) return {}
    return { publish: [`${API}.STREAM.MSG.GET.${ratesStream}`, `${API}.DIRECT.GET.${ratesStream}`, `${API}.DIRECT.GET.${ratesStream}.>`, ...limited.map((f) => `$KV.${RATES_BUCKET}.${f.name}`)] }
  },
  /** Creating KV `FN_RATES` when a function has a `rateLimit`. */
  provisionRateLimits: (s) => (s.functions.some((f) => f.rateLimited) ? { publish: provisionStream(ratesStream) } : {}),
  /** Reading each function's consumer figures, and its replay's progress (`fn ls`). */
  readConsumers: (s) =>
    perFunction(s, (f) => ({ publish: [`${API}.CONSUMER.INFO.${f.stream}.${consumerName(f.name)}`, `${API}.CONSUMER.INFO.${f.stream}.${replayConsumerName(f.name)}`] })),
  /** Pulling and settling each function's messages on its existing consumer. */
  bindConsumers: (s) => perFunction(s, (f) => bindConsumer(f.stream, consumerName(f.name), f.keyed)),
  /** Publishing `ctx.publish` outputs: to the project's streams, and to `auth.outputs`. */
  publishOutputs: (s) => ({ publish: [...s.streams.flatMap((st) => st.subjects), ...s.outputs] }),
  /** Storing dead letters: `fn.dlq.<function>`, and payloads too big for one message in `FN_DLQ_PAYLOADS`. */
  writeDeadLetters: (s) => ({
    publish: [
      ...s.functions.map((f) => deadLetterSubject(f.name)),
      `${API}.STREAM.INFO.${s.dlqStream}`,
      `${API}.STREAM.INFO.${payloadsStream}`,
      `${API}.STREAM.MSG.GET.${payloadsStream}`,
      ...writeObjects(DLQ_PAYLOADS_BUCKET),
    ],
  }),
  /** Reading dead letters of any function (a removed function's too), with payloads kept in Object Store. */
  readDeadLetters: (s) => ({
    publish: [
      `${API}.STREAM.INFO.${s.dlqStream}`,
      `${API}.STREAM.MSG.GET.${s.dlqStream}`,
      // `fn dlq ls` walks one function's dead letters with an ordered pull consumer.
      `${API}.CONSUMER.CREATE.${s.dlqStream}.*.${deadLetterSubject('*')}`,
      `${API}.CONSUMER.MSG.NEXT.${s.dlqStream}.*`,
      `${API}.CONSUMER.DELETE.${s.dlqStream}.*`,
      ...readStore(payloadsStream, `$O.${DLQ_PAYLOADS_BUCKET}.>`, 'obj'),
    ],
  }),
  /** Replaying and purging dead letters: deleting them and their payload objects. */
  manageDeadLetters: (s) => ({
    publish: [`${API}.STREAM.MSG.DELETE.${s.dlqStream}`, `${API}.STREAM.PURGE.${s.dlqStream}`, `$O.${DLQ_PAYLOADS_BUCKET}.M.>`, `${API}.STREAM.PURGE.${payloadsStream}`],
  }),
  /** Creating the DLQ stream and the payload bucket. */
  provisionDeadLetters: (s) => ({ publish: [...provisionStream(s.dlqStream), ...provisionStream(payloadsStream)] }),
  /**
   * `FN_SCHEDULES` as `fn deploy` provisions it (the stream and the relay consumer `fn_delayed`),
   * the schedules of `schedule` functions it writes (reading the one stored first), what `fn rm`
   * purges there, and `fn invoke --delay`.
   */
  provisionSchedules: (s) => ({
    publish: [
      ...provisionStream(SCHEDULES_STREAM),
      `${API}.CONSUMER.CREATE.${SCHEDULES_STREAM}.${RELAY_CONSUMER}`,
      `${API}.CONSUMER.CREATE.${SCHEDULES_STREAM}.${RELAY_CONSUMER}.>`,
      `${API}.CONSUMER.INFO.${SCHEDULES_STREAM}.${RELAY_CONSUMER}`,
      `${API}.STREAM.MSG.GET.${SCHEDULES_STREAM}`,
      `${API}.STREAM.PURGE.${SCHEDULES_STREAM}`,
      ...s.functions.filter((f) => f.scheduled).map((f) => cronScheduleSubject(f.name)),
      delayScheduleSubject('*'),
    ],
  }),
  /**
   * Delayed outputs and debounce: storing `@at` schedules in `FN_SCHEDULES` (a debounce reads the
   * key's pending run first), and relaying the due ones through the shared consumer `fn_delayed`.
   */
  delayOutputs: (s) =>
    merge([
      {
        publish: [
          delayScheduleSubject('*'),
          ...s.functions.filter((f) => f.debounced).map((f) => debounceSchedules(f.name)),
          ...(s.functions.some((f) => f.debounced) ? [`${API}.STREAM.MSG.GET.${SCHEDULES_STREAM}`] : []),
        ],
      },
      bindConsumer(SCHEDULES_STREAM, RELAY_CONSUMER),
    ]),
  /** `fn schedules`: the subjects of `FN_SCHEDULES` and each schedule stored. */
  readSchedules: () => ({ publish: [`${API}.STREAM.INFO.${SCHEDULES_STREAM}`, `${API}.STREAM.MSG.GET.${SCHEDULES_STREAM}`] }),
  /** Publishing to the functions' subjects: `fn invoke`, and `fn dlq replay` (to the original subject). */
  publishToFunctions: (s) => ({ publish: s.functions.map((f) => f.subject) }),
  /** A replica answers watchers and publishes the events and log lines of watched functions. */
  publishEvents: (s) => ({
    subscribe: [watchSubject('*')],
    publish: s.functions.flatMap((f) => [eventsSubject(f.name), logsSubject(f.name)]),
    allowResponses: true,
  }),
  /**
   * A replica registers with the NATS services framework (`nats micro`): it answers `$SRV.PING`,
   * `$SRV.INFO` and `$SRV.STATS` for all, for `jetfn` and for its own id, and each function's
   * status endpoint `fn.status.<fn>`.
   */
  registerService: (s) => ({
    subscribe: ['$SRV.PING', '$SRV.INFO', '$SRV.STATS', `$SRV.*.${SERVICE_NAME}`, `$SRV.*.${SERVICE_NAME}.*`, ...s.functions.map((f) => statusSubject(f.name))],
    allowResponses: true,
  }),
  /** Asking the replicas what they run (`nats micro ls/info/stats jetfn`, the status endpoints). */
  readServices: (s) => ({ publish: ['$SRV.PING', '$SRV.INFO', '$SRV.STATS', `$SRV.*.${SERVICE_NAME}`, `$SRV.*.${SERVICE_NAME}.*`, ...s.functions.map((f) => statusSubject(f.name))] }),
  /** Following a function's events and log lines (`fn logs`, `fn invoke`). */
  watchEvents: (s) => perFunction(s, (f) => ({ publish: [watchSubject(f.name)], subscribe: [eventsSubject(f.name), logsSubject(f.name)] })),
} satisfies Record<string, Capability>

export type CapabilityName = keyof typeof CAPABILITIES

const VIEWER: CapabilityName[] = ['readRegistry', 'readConsumers', 'readDeadLetters', 'readSchedules', 'watchEvents', 'readServices']

/** The capabilities of each role. */
export const ROLE_CAPABILITIES: Readonly<Record<Role, readonly CapabilityName[]>> = Object.freeze({
  replica: ['readRegistry', 'readBundles', 'bindConsumers', 'bindReplays', 'publishOutputs', 'delayOutputs', 'writeDeadLetters', 'publishEvents', 'shareRateLimits', 'registerService'],
  deployer: [
    ...VIEWER,
    'readBundles',
    'provisionRegistry',
    'writeRegistry',
    'provisionStreams',
    'provisionConsumers',
    'replayFunctions',
    'provisionDeadLetters',
    'provisionRateLimits',
    'manageDeadLetters',
    'provisionSchedules',
    'publishToFunctions',
  ],
  viewer: VIEWER,
})

/**
 * Whose replies each role receives. A command's connection uses the inbox prefix of the role the
 * command needs (`commandRole`), so a deployer, who runs the viewer's commands too, receives
 * under the viewer's prefix as well; nobody else receives another role's replies.
 */
export const ROLE_INBOXES: Readonly<Record<Role, readonly Role[]>> = Object.freeze({
  replica: ['replica'],
  deployer: ['deployer', 'viewer'],
  viewer: ['viewer'],
})

/** Every role's permissions for `scope`; each list in a stable order, without repeats. */
export function rolePermissions(scope: AuthScope): RolePermissionSet {
  const out = {} as RolePermissionSet
  for (const role of ROLES) {
    const inboxPrefix = ROLE_INBOX_PREFIX[role]
    // Every connection: the JetStream account check jetfn makes on connecting, and its replies.
    const base: Grant = { publish: [`${API}.INFO`], subscribe: ROLE_INBOXES[role].map((r) => `${ROLE_INBOX_PREFIX[r]}.>`) }
    const g = merge([base, ...ROLE_CAPABILITIES[role].map((c) => CAPABILITIES[c](scope))])
    out[role] = { publish: g.publish ?? [], subscribe: g.subscribe ?? [], inboxPrefix, allowResponses: g.allowResponses ?? false }
  }
  return out
}

function merge(grants: Grant[]): Grant {
  const publish = new Set<string>()
  const subscribe = new Set<string>()
  let allowResponses = false
  for (const g of grants) {
    for (const p of g.publish ?? []) publish.add(p)
    for (const p of g.subscribe ?? []) subscribe.add(p)
    allowResponses ||= g.allowResponses ?? false
  }
  return { publish: [...publish], subscribe: [...subscribe], allowResponses }
}

/** A token of `subject` that holds a wildcard character without being one (`fn_*`); undefined when none. */
export function partialWildcardToken(subject: string): string | undefined {
  return subject.split('.').find((t) => t !== '*' && t !== '>' && /[*>]/.test(t))
}
