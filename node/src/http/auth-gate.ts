// Who is asking, and may they (issue 14, ADR 0068). Koa middleware in front of every route:
// while auth is disabled it only notes the caller; once enabled, a request needs a valid bearer
// token (or a verified client certificate, see -trusted-ca-file, whose CN is the user) and the
// permission its route needs. Health and metrics stay open, and so does the login route.
import type Koa from 'koa';
import type { IncomingMessage } from 'node:http';
import type { AuthStore } from '../auth/auth-store.ts';
import { allows, isAdmin, type KeyRequest } from '../auth/permissions.ts';
import { verifyToken } from '../auth/token.ts';
import { kvError, unauthenticatedError } from '../errors.ts';
import type { Caller } from '../kv/commands.ts';
import { decodeKey } from './request.ts';
import { FORWARDED_USER_HEADER, requestContext, type RequestContext } from './request-context.ts';

export interface Principal {
  user: string;
  via: 'token' | 'certificate';
  /** For a user a member vouched for (FORWARDED_USER_HEADER): that member. */
  forwardedBy?: string;
}

export interface AuthGateOptions {
  /** The replicated auth state of this member. */
  auth: () => AuthStore;
  now: () => number;
  /** With a client CA bundle (-trusted-ca-file): the verified client certificate's CN, else null. */
  certificateUser?: (req: IncomingMessage) => string | null;
  /**
   * With a client CA bundle and peer TLS: the member whose peer certificate (chaining to the peer
   * CA, naming a member of the configuration) the connection presented, else null. Only such a
   * connection may assert a forwarded certificate user.
   */
  forwardingMember?: (req: IncomingMessage) => string | null;
  maxKeyBytes: number;
  /** Put /metrics behind authentication too. */
  protectMetrics?: boolean;
}

/** What a request needs once auth is enabled. */
export type Need =
  { kind: 'open' } | { kind: 'user' } | { kind: 'root' } | { kind: 'key'; request: KeyRequest };

const OPEN_GET = new Set(['/livez', '/readyz']);
const KV_PREFIX = '/v1/kv/';

function flag(params: URLSearchParams, name: string): boolean {
  const v = params.get(name);
  return v !== null && v !== 'false' && v !== '0';
}

/** Pure: the permission a request needs, from its method, path and query. */
export function needOf(
  method: string,
  path: string,
  querystring: string,
  maxKeyBytes: number,
  protectMetrics = false,
): Need {
  if ((method === 'GET' || method === 'HEAD') && OPEN_GET.has(path)) return { kind: 'open' };
  if ((method === 'GET' || method === 'HEAD') && path === '/metrics')
    return protectMetrics ? { kind: 'user' } : { kind: 'open' };
  if (method === 'POST' && path === '/v1/auth/token') return { kind: 'open' };
  if (path === '/v1/auth/status' && method === 'GET') return { kind: 'open' };
  if (path === '/v1/kv' || path.startsWith(KV_PREFIX)) {
    // A malformed key is reported by the KV route itself; here it only needs to be matched as written.
    let key: string;
    try {
      key = decodeKey(path.slice(KV_PREFIX.length), maxKeyBytes);
    } catch {
      return { kind: 'user' };
    }
    const q = new URLSearchParams(querystring);
    const range = flag(q, 'recurse') || (method !== 'DELETE' && flag(q, 'keys'));
    const kind = method === 'GET' || method === 'HEAD' ? 'read' : 'write';
    return { kind: 'key', request: range ? { kind, prefix: key } : { kind, key } };
  }
  if ((method === 'GET' || method === 'HEAD') && (path === '/v1/status' || path === '/v1/cluster/members')) {
    return { kind: 'user' };
  }
  if (path.startsWith('/v1/cluster/') || path.startsWith('/v1/auth/')) return { kind: 'root' };
  // Unknown routes: authenticate before answering 404, so routes cannot be probed anonymously.
  return { kind: 'user' };
}

/**
 * Who the gate found asking (null: no credentials), for commands that carry their caller to the
 * state machine, which authorizes them again where they apply (kv/commands.ts `Caller`).
 */
export function callerOf(ctx: Koa.Context): Caller {
  return (ctx.state.principal as Principal | null | undefined)?.user ?? null;
}

const BEARER = /^Bearer ([A-Za-z0-9._-]{1,1024})$/;
/** User names as the auth store accepts them are short printable strings; anything else is refused. */
const FORWARDED_USER = /^[\x21-\x7e]{1,256}$/;

function unauthenticated(message: string): never {
  throw unauthenticatedError(message);
}

/** The caller, from a bearer token or a client certificate; null if none was presented. */
export function identify(ctx: Koa.Context, o: AuthGateOptions): Principal | null {
  const store = o.auth();
  const header = ctx.get('authorization');
  if (header !== '') {
    const m = BEARER.exec(header);
    if (!m) unauthenticated('the Authorization header must be "Bearer <token>"');
    const key = store.tokenKey;
    if (key === null) unauthenticated('no token has been issued by this cluster');
    const check = verifyToken(key, m[1]!, o.now());
    if (!check.ok)
      unauthenticated(check.reason === 'expired' ? 'the token has expired; log in again' : 'invalid token');
    const user = store.user(check.claims.sub);
    if (!user || user.generation !== check.claims.gen) unauthenticated('the token was revoked; log in again');
    return { user: user.name, via: 'token' };
  }
  const forwarded = ctx.get(FORWARDED_USER_HEADER);
  if (forwarded !== '') {
    // A follower vouches for a caller it verified by certificate: believed only from a member.
    const member = o.forwardingMember?.(ctx.req) ?? null;
    if (member === null)
      unauthenticated(`${FORWARDED_USER_HEADER} is accepted only from a member's peer certificate`);
    if (!FORWARDED_USER.test(forwarded)) unauthenticated(`invalid ${FORWARDED_USER_HEADER}`);
    return { user: forwarded, via: 'certificate', forwardedBy: member };
  }
  const cn = o.certificateUser?.(ctx.req) ?? null;
  if (cn !== null) return { user: cn, via: 'certificate' };
  return null;
}

export function createAuthGate(o: AuthGateOptions): Koa.Middleware {
  return (ctx, next) => {
    const authorization = ctx.get('authorization');
    // Auth off and no credentials presented: nothing to check or forward (the hot path of an open cluster).
    if (
      authorization === '' &&
      o.certificateUser === undefined &&
      !o.auth().enabled &&
      ctx.get(FORWARDED_USER_HEADER) === ''
    ) {
      ctx.state.principal = null;
      return next().then(() => recheckRead(ctx, null));
    }
    const context: RequestContext = authorization !== '' ? { authorization } : {};
    return requestContext.run(context, () => gate(ctx, next, context));
  };

  async function gate(ctx: Koa.Context, next: Koa.Next, context: RequestContext): Promise<void> {
    const store = o.auth();
    const need = needOf(ctx.method, ctx.path, ctx.querystring, o.maxKeyBytes, o.protectMetrics);
    // Credentials are checked whenever they are presented, so a bad token is never silently ignored.
    const presented = ctx.get('authorization') !== '' || ctx.get(FORWARDED_USER_HEADER) !== '';
    const who = need.kind === 'open' && !presented ? null : identify(ctx, o);
    ctx.state.principal = who;
    // A forward to the leader carries a certificate-identified caller as the asserted user.
    if (who?.via === 'certificate') context.certificateUser = who.user;
    if (need.kind === 'open') {
      await next();
      return;
    }
    if (!store.enabled) {
      await next();
      recheckRead(ctx, who);
      return;
    }
    authorize(ctx, who, need);
    await next();
  }

  /**
   * A read answered while auth was off here may have waited (ReadIndex) for a log that enables
   * it: a linearizable read that began after auth was enabled must not be served without
   * credentials, so it is checked again against the state it was answered from. Reads only: a
   * write cannot be taken back (its check belongs to the state machine; docs/adr/0068).
   */
  function recheckRead(ctx: Koa.Context, who: Principal | null): void {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || !o.auth().enabled) return;
    const need = needOf(ctx.method, ctx.path, ctx.querystring, o.maxKeyBytes, o.protectMetrics);
    if (need.kind === 'open') return;
    try {
      authorize(ctx, who, need);
    } catch (e) {
      // A watch stream already set up is let go, not left subscribed.
      const body = ctx.body as { destroy?: () => void } | null | undefined;
      if (body && typeof body.destroy === 'function') body.destroy();
      throw e;
    }
  }

  function authorize(ctx: Koa.Context, who: Principal | null, need: Need): void {
    const store = o.auth();
    if (!who)
      unauthenticated(
        'authentication required: log in with POST /v1/auth/token and send "Authorization: Bearer <token>"',
      );
    const roles = store.user(who.user)?.roles ?? [];
    if (who.via === 'certificate' && !store.user(who.user)) {
      throw kvError(
        'permission-denied',
        `certificate user ${JSON.stringify(who.user)} is not a user of this cluster`,
      );
    }
    if (need.kind === 'root' && !isAdmin(roles)) {
      throw kvError('permission-denied', `${ctx.method} ${ctx.path} needs the root role`);
    }
    if (need.kind === 'key' && !allows(roles, store.roles, need.request)) {
      const r = need.request;
      const what =
        'key' in r ? `key ${JSON.stringify(r.key)}` : `every key under ${JSON.stringify(r.prefix)}`;
      throw kvError('permission-denied', `user ${who.user} may not ${r.kind} ${what}`);
    }
  }
}
