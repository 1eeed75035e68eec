/**
 * Stable error codes of jetfn. A code never changes meaning; tools may match on it.
 */
export const FnErrorCode = {
  /** `fn.config.ts` is missing a required piece, fails validation, or cannot be loaded. */
  ConfigInvalid: 'FN_CONFIG_INVALID',
  /** A function file exports no valid function, or its options fail validation. */
  FunctionInvalid: 'FN_FUNCTION_INVALID',
  /** A function file (or a dependency) does not build, or throws while it is imported. */
  FunctionLoadFailed: 'FN_FUNCTION_LOAD_FAILED',
  /** No deployed function (or version) has the name given. */
  FunctionNotFound: 'FN_FUNCTION_NOT_FOUND',
  /** A function's subject is in no stream of `fn.config.ts` nor on the server. */
  StreamNotFound: 'FN_STREAM_NOT_FOUND',
  /**
   * A stream of `fn.config.ts` that exists differs from it in a way jetfn will not apply: fewer
   * replicas, a subject removed, a smaller limit, another storage, or a change the server refuses.
   * The message names the stream, the field, the old and the new value.
   */
  StreamConflict: 'FN_STREAM_CONFLICT',
  /** The NATS server cannot be reached or refused the connection. */
  NatsUnavailable: 'FN_NATS_UNAVAILABLE',
  /**
   * The NATS server refused the credentials (token, user and password, NKey, creds) or their
   * absence. The message says which credentials and where they were set, never their value.
   */
  NatsAuthFailed: 'FN_NATS_AUTH_FAILED',
  /**
   * TLS with the NATS server failed: its certificate is not trusted, expired or for another host,
   * it requires or refused a client certificate, or it does not offer TLS when the config asks for it.
   */
  NatsTlsFailed: 'FN_NATS_TLS_FAILED',
  /** The connected server lacks JetStream or is older than a feature needs. */
  ServerUnsupported: 'FN_SERVER_UNSUPPORTED',
  /** No usable nats-server binary was found or could be fetched. */
  NatsServerNotFound: 'FN_NATS_SERVER_NOT_FOUND',
  /** A nats-server process could not be started or did not become ready. */
  NatsServerStartFailed: 'FN_NATS_SERVER_START_FAILED',
  /** `fn invoke` saw no outcome for its message in time (the message is still queued). */
  InvocationTimeout: 'FN_INVOCATION_TIMEOUT',
  /** A call was made in a lifecycle state that does not allow it. */
  InvalidState: 'FN_INVALID_STATE',
  /** A command-line argument or flag is wrong. */
  UsageInvalid: 'FN_USAGE_INVALID',
  /** `fn init` could not write the project (a path that is not a directory, an unreadable package.json). */
  InitFailed: 'FN_INIT_FAILED',
  /**
   * `fn k8s` cannot package the project: no package.json or lockfile, jetfn not a runtime
   * dependency, the health port disabled, a credential written in `fn.config.ts` (the image would
   * carry it).
   */
  K8sFailed: 'FN_K8S_FAILED',
  /**
   * The NATS user lacks a permission the command needs: the server refused a publish or a
   * subscription. The message names the operation and the subject; `fn auth` prints what each
   * role needs.
   */
  PermissionDenied: 'FN_PERMISSION_DENIED',
  /**
   * Something a bind-only replica or a read-only command needs does not exist (a consumer, the
   * registry, the DLQ stream): it only uses what `fn deploy` provisions. The message names it.
   */
  NotProvisioned: 'FN_NOT_PROVISIONED',
  /** An unexpected internal failure. */
  Internal: 'FN_INTERNAL',
} as const

export type FnErrorCode = (typeof FnErrorCode)[keyof typeof FnErrorCode]

/** Options of {@link FnError}. */
export interface FnErrorOptions {
  /** The error that caused this one. */
  cause?: unknown
  /** One line telling the user what to do about it; the CLI prints it under the message. */
  hint?: string
}

/**
 * The error jetfn itself throws: a stable {@link FnErrorCode}, a short message naming the file,
 * field or value at fault, and an optional hint.
 */
export class FnError extends Error {
  override readonly name = 'FnError'
  readonly code: FnErrorCode
  readonly hint: string | undefined

  constructor(code: FnErrorCode, message: string, options: FnErrorOptions = {}) {
    super(message, { cause: options.cause })
    this.code = code
    this.hint = options.hint
  }
}

/** True when `err` is an {@link FnError} (optionally with the given code). */
export function isFnError(err: unknown, code?: FnErrorCode): err is FnError {
  return err instanceof FnError && (code === undefined || err.code === code)
}
