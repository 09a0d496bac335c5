// kvctl's failures and the exit code each one leaves with. Every failure prints one line on
// stderr, `kvctl: <code>: <message>`, where <code> is the server's error code for errors the
// server reported, `usage` for bad command lines and `unreachable` when no endpoint answered.

export const EXIT = {
  ok: 0,
  /** The server answered with an error (`{"error":{"code","message"}}`). */
  server: 1,
  /** The command line is wrong; nothing was sent. */
  usage: 2,
  /** No endpoint could be reached (or a connection broke before the answer came). */
  unreachable: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export abstract class CliError extends Error {
  abstract readonly exitCode: ExitCode;
  /** What follows `kvctl: ` on stderr. */
  abstract readonly code: string;
}

/** A bad command line. `topic` names the command whose help the user should read. */
export class UsageError extends CliError {
  readonly exitCode = EXIT.usage;
  readonly code = 'usage';
  readonly topic: string | undefined;
  constructor(message: string, topic?: string) {
    super(message);
    this.name = 'UsageError';
    this.topic = topic;
  }
}

/** An error answer from a member: the code and message of its JSON error body. */
export class ServerError extends CliError {
  readonly exitCode = EXIT.server;
  readonly code: string;
  readonly status: number;
  readonly endpoint: string;
  /** X-KV-Index of the answer, when it had one (a 404 for a missing key does). */
  readonly index: number | undefined;
  /** Retry-After in milliseconds, when given. */
  readonly retryAfterMs: number | undefined;
  constructor(
    code: string,
    message: string,
    o: { status: number; endpoint: string; index?: number | undefined; retryAfterMs?: number | undefined },
  ) {
    super(message);
    this.name = 'ServerError';
    this.code = code;
    this.status = o.status;
    this.endpoint = o.endpoint;
    this.index = o.index;
    this.retryAfterMs = o.retryAfterMs;
  }
}

/** No answer: every endpoint refused, timed out or broke the connection. */
export class UnreachableError extends CliError {
  readonly exitCode = EXIT.unreachable;
  readonly code = 'unreachable';
  constructor(message: string) {
    super(message);
    this.name = 'UnreachableError';
  }
}

/** The stderr line for a failure. */
export function errorLine(e: CliError): string {
  return `kvctl: ${e.code}: ${e.message}`;
}
