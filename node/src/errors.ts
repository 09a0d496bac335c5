// The one error-code catalogue of the node. Every failure a client or peer can see is a
// KvError carrying a kebab-case code; the HTTP layer turns it into
// `{"error":{"code","message"}}` with the status (and headers) listed here.

export const ERROR_CODES = {
  // Bad input: nothing changed.
  'invalid-key': 400,
  'key-too-large': 400,
  'invalid-body': 400,
  'invalid-ttl': 400,
  'unknown-parameter': 400,
  'invalid-parameter': 400,
  'value-too-large': 413,
  // The client sent its request too slowly (headers or body): the connection is closed.
  'request-timeout': 408,
  'headers-too-large': 431,
  // The HTTP parser could not read the request at all.
  'bad-request': 400,
  'unsupported-media-type': 415,
  // Lookups.
  'key-not-found': 404,
  'not-found': 404,
  'member-not-found': 404,
  'method-not-allowed': 405,
  // Preconditions and conflicts.
  'cas-mismatch': 412,
  'would-lose-quorum': 409,
  'learner-not-caught-up': 409,
  // A new member joins as a learner and is promoted once caught up; never directly as a voter.
  'learner-required': 409,
  'member-exists': 409,
  'conf-change-pending': 409,
  'leader-transfer-in-progress': 409,
  'invalid-conf-change': 409,
  'not-member': 409,
  // A forced new configuration is only for a voter that knows no leader (docs/adr/0077).
  'force-refused': 409,
  'too-many-requests': 429,
  // Authentication and authorization (issue 14).
  unauthenticated: 401,
  'permission-denied': 403,
  'user-exists': 409,
  'user-not-found': 404,
  'role-not-found': 404,
  'auth-not-ready': 409,
  'invalid-auth-change': 400,
  // POST /v1/cluster/backup on a member started without -backup-s3-url (issue 15).
  'backup-not-configured': 409,
  // Availability: the outcome of a write is unknown only for `timeout`.
  'no-leader': 503,
  'not-leader': 503,
  unavailable: 503,
  // The disk holding the data directory is full: writes refused until space is freed (reads work).
  'disk-full': 507,
  // The member's data failed its checks (corrupt or lost): it serves only /v1/status and /metrics.
  'data-unusable': 503,
  // This member is fenced (docs/adr/0076): it keeps its data but serves no client; use another member.
  fenced: 503,
  timeout: 504,
  // A write superseded by a new leader before it committed: definitely not applied, safe to retry.
  'proposal-dropped': 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Seconds a client should wait before retrying a 503/429/507 when nothing more precise is known. */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

export class KvError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { headers?: Record<string, string>; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KvError';
    this.code = code;
    this.status = ERROR_CODES[code];
    let headers = options?.headers;
    if (
      (this.status === 503 || this.status === 429 || this.status === 507) &&
      headers?.['Retry-After'] === undefined
    ) {
      headers = { ...headers, 'Retry-After': String(DEFAULT_RETRY_AFTER_SECONDS) };
    }
    this.headers = headers;
  }

  /** The JSON body every error response carries. */
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export function kvError(
  code: ErrorCode,
  message: string,
  options?: { headers?: Record<string, string>; cause?: unknown },
): KvError {
  return new KvError(code, message, options);
}

/** 401 with the bearer challenge (RFC 6750) that tells a client to log in and send a token. */
export function unauthenticatedError(message: string): KvError {
  return kvError('unauthenticated', message, { headers: { 'WWW-Authenticate': 'Bearer realm="kv-store"' } });
}

export function isKvError(e: unknown): e is KvError {
  return e instanceof KvError;
}

export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ERROR_CODES, s);
}
