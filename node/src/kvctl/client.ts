// kvctl's HTTP client: JSON requests to a list of endpoints with failover.
//
// A request goes to the endpoint that answered last (the first one at start). On to the next
// endpoint when the connection fails, or when a member answers 503/429 (no leader, not leader,
// shutting down, a proposal dropped by a leader change: nothing was applied, safe to repeat).
// After a full round without an answer it waits (Retry-After, capped at 1 s) and goes round
// again, until the command's --timeout. A write whose connection broke after it was sent is not
// repeated: its outcome is unknown, and repeating a --cas write would report a false mismatch.
import http from 'node:http';
import https from 'node:https';
import { ServerError, UnreachableError } from './errors.ts';
import type { Credentials, TlsFiles } from './security.ts';

export interface ClientOptions {
  endpoints: string[];
  timeoutMs: number;
  requestTimeoutMs: number;
  /** For https endpoints: the CA bundle to verify members against, a client certificate. */
  tls?: TlsFiles;
  /** A bearer token, or a user that logs in for one (POST /v1/auth/token) and again when refused. */
  credentials?: Credentials;
  /** For tests: time source and sleep. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export type QueryValue = string | number | true | undefined;

export interface Request {
  method: 'GET' | 'PUT' | 'DELETE' | 'POST';
  /** Already encoded (see kvPath). */
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Added to the per-request timeout: a blocking watch is answered only after its wait. */
  extraTimeoutMs?: number;
  /** Aborts the request and the retries (Ctrl-C in watch). */
  signal?: AbortSignal;
}

export interface Response {
  status: number;
  body: unknown;
  /** X-KV-Index, when the answer carried one. */
  index: number | undefined;
  endpoint: string;
}

/** The error codes of answers that mean "try another member": nothing was applied. */
const FAILOVER_CODES = new Set([
  'no-leader',
  'not-leader',
  'unavailable',
  'proposal-dropped',
  // A member whose disk is full refuses writes before proposing them; another member may take them.
  'disk-full',
  'too-many-requests',
]);

const MAX_ROUND_PAUSE_MS = 1000;

/**
 * The URL path of a key: `/v1/kv/` then the key percent-encoded segment by segment, `/` kept as
 * the separator (the server decodes the raw path once, so `a/b` and `a%2Fb` name the same key).
 * Segments made only of dots are encoded too, so that no URL normaliser on the way (a proxy, a
 * fetch) folds `a/../b` into `b`.
 */
/**
 * The TLS options of a request to a member: with --cacert the members are verified against that
 * bundle only (without, the system's); --cert and --key present a client certificate.
 */
export function tlsRequestOptions(secure: boolean, tls: TlsFiles): https.RequestOptions {
  if (!secure) return {};
  return {
    rejectUnauthorized: true,
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
  };
}

export function kvPath(key: string): string {
  const segments = key
    .split('/')
    .map((s) => (/^\.+$/.test(s) ? s.replaceAll('.', '%2E') : encodeURIComponent(s)));
  return `/v1/kv/${segments.join('/')}`;
}

export function queryString(query: Record<string, QueryValue> | undefined): string {
  if (query === undefined) return '';
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    parts.push(
      value === true
        ? encodeURIComponent(name)
        : `${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`,
    );
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

/** A failure without an answer. `sent`: the request may have reached the server. */
class NoAnswer extends Error {
  readonly sent: boolean;
  constructor(message: string, sent: boolean) {
    super(message);
    this.sent = sent;
  }
}

function describeNetworkError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return err.message;
  }
}

function parseRetryAfter(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v.trim()) * 1000;
}

/** One request to one endpoint; resolves with any HTTP answer, rejects with NoAnswer. */
function once(
  endpoint: string,
  req: Request,
  timeoutMs: number,
  security: { tls?: TlsFiles; authorization?: string } = {},
): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const url = new URL(endpoint);
    const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body), 'utf8');
    let sent = false;
    let settled = false;
    const fail = (message: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      r.destroy();
      reject(new NoAnswer(message, sent));
    };
    const secure = url.protocol === 'https:';
    const tls = security.tls ?? {};
    const r = (secure ? https.request : http.request)({
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
      method: req.method,
      path: req.path + queryString(req.query),
      // One connection per request: no stale keep-alive socket to trip over after a member restarts.
      agent: false,
      ...tlsRequestOptions(secure, tls),
      headers: {
        accept: 'application/json',
        ...(security.authorization !== undefined ? { authorization: security.authorization } : {}),
        ...(payload !== undefined
          ? { 'content-type': 'application/json', 'content-length': String(payload.byteLength) }
          : {}),
      },
    });
    const timer = setTimeout(() => fail(`no answer within ${Math.round(timeoutMs)} ms`), timeoutMs);
    const onAbort = (): void => fail('aborted');
    req.signal?.addEventListener('abort', onAbort, { once: true });
    r.once('socket', (socket) => {
      // A request is "sent" once the connection exists: before that, repeating it is safe.
      if (!socket.connecting) sent = true;
      else socket.once('connect', () => (sent = true));
    });
    r.on('error', (err: NodeJS.ErrnoException) => fail(describeNetworkError(err)));
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err: NodeJS.ErrnoException) => fail(describeNetworkError(err)));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        resolve({
          status: res.statusCode ?? 0,
          text: Buffer.concat(chunks).toString('utf8'),
          headers: res.headers,
        });
      });
    });
    r.end(payload);
  });
}

function toResponse(
  endpoint: string,
  a: { status: number; text: string; headers: http.IncomingHttpHeaders },
): Response {
  let body: unknown = a.text;
  try {
    body = a.text === '' ? null : JSON.parse(a.text);
  } catch {
    /* not JSON: keep the text */
  }
  const indexHeader = a.headers['x-kv-index'];
  const index =
    typeof indexHeader === 'string' && /^\d+$/.test(indexHeader) ? Number(indexHeader) : undefined;
  return { status: a.status, body, index, endpoint };
}

function toServerError(r: Response, retryAfter: string | string[] | undefined): ServerError {
  const err = (r.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = typeof err?.code === 'string' ? err.code : `http-${r.status}`;
  const message =
    typeof err?.message === 'string'
      ? err.message
      : `${r.endpoint} answered ${r.status}${typeof r.body === 'string' && r.body !== '' ? `: ${r.body.slice(0, 200)}` : ''}`;
  return new ServerError(code, message, {
    status: r.status,
    endpoint: r.endpoint,
    index: r.index,
    retryAfterMs: parseRetryAfter(typeof retryAfter === 'string' ? retryAfter : undefined),
  });
}

export class Client {
  readonly endpoints: readonly string[];
  private readonly timeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** The endpoint that answered last: the next request starts there. */
  private current = 0;
  private readonly tls: TlsFiles | undefined;
  private readonly credentials: Credentials;
  /** The token --user logged in for (per cluster: every member accepts it). */
  private token: string | undefined;

  constructor(o: ClientOptions) {
    if (o.endpoints.length === 0) throw new Error('no endpoints');
    this.endpoints = [...o.endpoints];
    this.timeoutMs = o.timeoutMs;
    this.requestTimeoutMs = o.requestTimeoutMs;
    this.tls = o.tls;
    this.credentials = o.credentials;
    if (o.credentials !== undefined && 'token' in o.credentials) this.token = o.credentials.token;
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The request with failover; resolves with a 2xx answer, throws ServerError or UnreachableError. */
  async request(req: Request): Promise<Response> {
    const idempotent = req.method === 'GET';
    const deadline = this.now() + this.timeoutMs;
    const lastFailure = new Map<string, string>();
    let lastServerError: ServerError | undefined;
    let pause = 100;
    for (;;) {
      let retryAfterMs: number | undefined;
      for (let tried = 0; tried < this.endpoints.length; tried++) {
        const i = (this.current + tried) % this.endpoints.length;
        const endpoint = this.endpoints[i]!;
        const left = deadline - this.now();
        if (left <= 0) break; // never on the very first attempt: the timeout is positive
        if (req.signal?.aborted) throw new UnreachableError('interrupted');
        let answer;
        try {
          answer = await this.authenticated(
            endpoint,
            req,
            Math.max(1, Math.min(this.requestTimeoutMs, left)) + (req.extraTimeoutMs ?? 0),
          );
        } catch (e) {
          if (!(e instanceof NoAnswer)) throw e;
          if (req.signal?.aborted) throw new UnreachableError('interrupted');
          if (e.sent && !idempotent) {
            throw new UnreachableError(
              `${endpoint}: ${e.message} after the request was sent; the change may or may not have been applied`,
            );
          }
          lastFailure.set(endpoint, e.message);
          continue;
        }
        const r = toResponse(endpoint, answer);
        if (r.status >= 200 && r.status < 300) {
          this.current = i;
          return r;
        }
        const err = toServerError(r, answer.headers['retry-after']);
        const retryable =
          FAILOVER_CODES.has(err.code) ||
          (idempotent && err.code === 'timeout') ||
          (r.status === 503 && err.code.startsWith('http-'));
        if (!retryable) {
          this.current = i;
          throw err;
        }
        lastServerError = err;
        lastFailure.delete(endpoint);
        if (err.retryAfterMs !== undefined)
          retryAfterMs = Math.min(retryAfterMs ?? Infinity, err.retryAfterMs);
      }
      const left = deadline - this.now();
      if (left <= 0) break;
      const wait = Math.min(
        left,
        retryAfterMs !== undefined ? Math.min(retryAfterMs, MAX_ROUND_PAUSE_MS) : pause,
      );
      pause = Math.min(pause * 2, MAX_ROUND_PAUSE_MS);
      await this.sleep(wait);
    }
    // Out of time. A member that answered (no leader, ...) is more telling than a refused connection.
    if (lastServerError !== undefined) throw lastServerError;
    const details = [...lastFailure].map(([e, m]) => `${e}: ${m}`).join('; ');
    throw new UnreachableError(`no endpoint answered within ${formatMs(this.timeoutMs)} (${details})`);
  }

  /**
   * One request with the credentials: --user logs in first (on this endpoint) and once more when the
   * token is refused (expired, or the cluster was restored with another token key).
   */
  private async authenticated(
    endpoint: string,
    req: Request,
    timeoutMs: number,
  ): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
    const c = this.credentials;
    const login = c !== undefined && 'user' in c ? c : undefined;
    if (login !== undefined && this.token === undefined) await this.login(endpoint, login, timeoutMs);
    const send = () =>
      once(endpoint, req, timeoutMs, {
        ...(this.tls ? { tls: this.tls } : {}),
        ...(this.token !== undefined ? { authorization: `Bearer ${this.token}` } : {}),
      });
    const a = await send();
    if (a.status !== 401 || login === undefined) return a;
    await this.login(endpoint, login, timeoutMs);
    return send();
  }

  /** The bearer token to send to `endpoint` (logging in with --user first); undefined without credentials. */
  async bearer(endpoint: string): Promise<string | undefined> {
    const c = this.credentials;
    if (c !== undefined && 'user' in c && this.token === undefined)
      await this.login(endpoint, c, this.requestTimeoutMs);
    return this.token;
  }

  private async login(
    endpoint: string,
    c: { user: string; password: string },
    timeoutMs: number,
  ): Promise<void> {
    const a = await once(
      endpoint,
      { method: 'POST', path: '/v1/auth/token', body: { name: c.user, password: c.password } },
      timeoutMs,
      this.tls ? { tls: this.tls } : {},
    );
    const r = toResponse(endpoint, a);
    if (r.status !== 200) throw toServerError(r, a.headers['retry-after']);
    const token = (r.body as Partial<LoginAnswer> | null)?.token;
    if (typeof token !== 'string')
      throw new ServerError('invalid-answer', `${endpoint} sent no token`, { status: r.status, endpoint });
    this.token = token;
  }

  /** One request to one endpoint, no failover (status asks every endpoint itself). */
  async requestOne(endpoint: string, req: Request): Promise<Response> {
    let answer;
    try {
      answer = await this.authenticated(endpoint, req, this.requestTimeoutMs + (req.extraTimeoutMs ?? 0));
    } catch (e) {
      if (e instanceof NoAnswer) throw new UnreachableError(`${endpoint}: ${e.message}`);
      throw e;
    }
    const r = toResponse(endpoint, answer);
    if (r.status >= 200 && r.status < 300) return r;
    throw toServerError(r, answer.headers['retry-after']);
  }
}

export interface LoginAnswer {
  token: string;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
