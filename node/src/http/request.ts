// Strict request parsing for the HTTP API: every check here runs before the service is
// called, so a rejected request changes nothing.
import type { IncomingMessage } from 'node:http';
import { kvError } from '../errors.ts';
import { DurationError, parseDuration } from '../kv/duration.ts';
import { isValidMemberId } from '../cli/flags.ts';

/** Query parameters of one request: each name at most once. */
export class Query {
  readonly #values = new Map<string, string>();

  constructor(querystring: string, allowed: readonly string[]) {
    for (const [name, value] of new URLSearchParams(querystring)) {
      if (!allowed.includes(name)) {
        const hint =
          allowed.length === 0 ? 'this endpoint takes no parameters' : `allowed: ${allowed.join(', ')}`;
        throw kvError('unknown-parameter', `unknown query parameter "${name}" (${hint})`);
      }
      if (this.#values.has(name))
        throw kvError('invalid-parameter', `query parameter "${name}" given more than once`);
      this.#values.set(name, value);
    }
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }

  string(name: string): string | undefined {
    return this.#values.get(name);
  }

  /** `?recurse`, `?recurse=true|1|false|0`. */
  flag(name: string): boolean {
    const v = this.#values.get(name);
    if (v === undefined) return false;
    if (v === '' || v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw kvError('invalid-parameter', `parameter "${name}" must be true or false, got "${v}"`);
  }

  /** A non-negative safe integer (indexes, limits). */
  uint(name: string, min = 0): number | undefined {
    const v = this.#values.get(name);
    if (v === undefined) return undefined;
    const n = /^\d{1,16}$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min) {
      throw kvError('invalid-parameter', `parameter "${name}" must be an integer >= ${min}, got "${v}"`);
    }
    return n;
  }

  /** A Go duration in milliseconds. */
  duration(name: string): number | undefined {
    const v = this.#values.get(name);
    if (v === undefined) return undefined;
    let ms: number;
    try {
      ms = parseDuration(v);
    } catch (e) {
      if (e instanceof DurationError) throw kvError('invalid-parameter', `parameter "${name}": ${e.message}`);
      throw e;
    }
    if (ms < 0) throw kvError('invalid-parameter', `parameter "${name}" must not be negative`);
    return ms;
  }
}

/** Decodes the raw path tail after `/v1/kv/` into a key. */
export function decodeKey(raw: string, maxKeyBytes: number): string {
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    throw kvError('invalid-key', 'key is not valid percent-encoded UTF-8');
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > maxKeyBytes)
    throw kvError('key-too-large', `key is ${bytes} bytes; the limit is ${maxKeyBytes}`);
  return key;
}

/** A body must keep arriving: no gap longer than idleMs, all of it within totalMs. */
export interface BodyTimeouts {
  idleMs: number;
  totalMs: number;
}

export const DEFAULT_BODY_TIMEOUTS: BodyTimeouts = { idleMs: 10_000, totalMs: 30_000 };

/**
 * Reads a request body, refusing it as soon as it exceeds `limit` bytes
 * (from Content-Length up front, or while streaming), so nothing unbounded is buffered,
 * and refusing a body that arrives too slowly (408; what was buffered is dropped and the
 * connection is closed after the answer).
 */
export async function readBody(
  req: IncomingMessage,
  limit: number,
  tooLarge: () => Error,
  timeouts: BodyTimeouts = DEFAULT_BODY_TIMEOUTS,
): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity')
    throw kvError('unsupported-media-type', `content-encoding "${encoding}" is not supported`);
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge();
  return new Promise<Buffer>((resolve, reject) => {
    let chunks: Buffer[] = [];
    let total = 0;
    const timedOut = (what: string): void => {
      cleanup();
      chunks = [];
      req.pause();
      reject(kvError('request-timeout', `the request body ${what}`, { headers: { Connection: 'close' } }));
    };
    const idle = setTimeout(() => timedOut(`stalled for ${timeouts.idleMs} ms`), timeouts.idleMs);
    const deadline = setTimeout(() => timedOut(`took longer than ${timeouts.totalMs} ms`), timeouts.totalMs);
    const cleanup = (): void => {
      clearTimeout(idle);
      clearTimeout(deadline);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      idle.refresh();
      total += chunk.byteLength;
      if (total > limit) {
        cleanup();
        // Stop reading; the response closes the connection so the rest is never parsed.
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, total));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(kvError('invalid-body', `reading the request body failed: ${err.message}`));
    };
    const onAborted = (): void => onError(new Error('client aborted'));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('aborted', onAborted);
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a body that must be one JSON object whose fields are all in `allowed`. */
export function parseJsonObject(
  body: Buffer,
  allowed: readonly string[],
  opts: { emptyAsObject?: boolean } = {},
): Record<string, unknown> {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw kvError('invalid-body', 'body is not valid UTF-8');
  }
  if (text.trim() === '' && opts.emptyAsObject) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw kvError('invalid-body', `body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw kvError('invalid-body', 'body must be a JSON object');
  }
  const obj = parsed as Record<string, unknown>;
  for (const field of Object.keys(obj)) {
    if (!allowed.includes(field))
      throw kvError('invalid-body', `unknown field "${field}" (allowed: ${allowed.join(', ')})`);
  }
  return obj;
}

export function optionalString(obj: Record<string, unknown>, field: string): string | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw kvError('invalid-body', `field "${field}" must be a string`);
  return v;
}

export function memberId(raw: string | undefined, what = 'member id'): string {
  if (raw === undefined || !isValidMemberId(raw)) {
    throw kvError(
      'invalid-parameter',
      `invalid ${what} "${raw ?? ''}": letters, digits, '.', '_' or '-', at most 63`,
    );
  }
  return raw;
}

/** `http://host:port` or `https://host:port` (a member with TLS) with nothing else; returned normalised. */
export function memberUrl(raw: string, field: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw kvError('invalid-body', `field "${field}" is not a URL: "${raw}"`);
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.hostname === '' ||
    url.port === '' ||
    url.username !== '' ||
    url.password !== '' ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw kvError(
      'invalid-body',
      `field "${field}" must look like http://host:port or https://host:port, got "${raw}"`,
    );
  }
  return `${url.protocol}//${url.host}`;
}

/** For endpoints that take no query parameters: any parameter is a 400. */
export function noQuery(ctx: { querystring: string }): void {
  void new Query(ctx.querystring, []);
}

/**
 * A small JSON object body (the admin and auth APIs): at most `limit` bytes, only `allowed`
 * fields; a body over the limit is 413 and the connection is closed after the answer.
 */
export async function readJsonObjectBody(
  ctx: { req: IncomingMessage; set(field: string, value: string): void },
  limit: number,
  allowed: readonly string[],
  o: { emptyAsObject?: boolean; timeouts?: BodyTimeouts } = {},
): Promise<Record<string, unknown>> {
  const tooLarge = (): Error => {
    ctx.set('Connection', 'close');
    return kvError('value-too-large', `request body exceeds ${limit} bytes`);
  };
  return parseJsonObject(await readBody(ctx.req, limit, tooLarge, o.timeouts), allowed, {
    emptyAsObject: o.emptyAsObject ?? false,
  });
}
