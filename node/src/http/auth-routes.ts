// The auth administration API (issue 14, ADR 0068): users, roles, enable/disable and login.
// Changes go through the Raft log (the backend proposes them and resolves once applied);
// passwords are hashed here, on the member that received them, and never leave it.
import Router from '@koa/router';
import type Koa from 'koa';
import { randomBytes } from 'node:crypto';
import type { AuthChange, AuthChangeResult, AuthStore } from '../auth/auth-store.ts';
import type { LoginLimiter } from '../auth/login-limiter.ts';
import {
  hashPassword,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  SCRYPT_DEFAULTS,
  verifyPassword,
} from '../auth/password.ts';
import { isValidAuthName, roleProblem, type Role } from '../auth/permissions.ts';
import { DEFAULT_TOKEN_TTL_MS, issueToken } from '../auth/token.ts';
import { kvError } from '../errors.ts';
import type { Caller } from '../kv/commands.ts';
import { callerOf } from './auth-gate.ts';
import {
  DEFAULT_BODY_TIMEOUTS,
  noQuery,
  optionalString,
  readJsonObjectBody,
  type BodyTimeouts,
} from './request.ts';

export interface AuthBackend {
  auth(): AuthStore;
  /** Proposes a change through Raft; resolves with its outcome once applied on this member. */
  proposeAuth(change: AuthChange, caller: Caller): Promise<AuthChangeResult>;
  /** Waits until this member has applied everything committed before the call (ReadIndex). */
  barrier(): Promise<void>;
  now(): number;
  limiter: LoginLimiter;
  hashParams?: { N: number; r: number; p: number };
  tokenTtlMs?: number;
}

const BODY_LIMIT = 64 * 1024;

function requiredName(b: Record<string, unknown>, field: string): string {
  const v = optionalString(b, field);
  if (v === undefined) throw kvError('invalid-body', `field "${field}" is required`);
  if (!isValidAuthName(v))
    throw kvError(
      'invalid-body',
      `${field} must be 1-64 characters of letters, digits, ".", "_", "@" or "-"`,
    );
  return v;
}

function pathName(v: string | undefined, what: string): string {
  if (v === undefined || !isValidAuthName(v)) throw kvError('invalid-parameter', `invalid ${what} name`);
  return v;
}

function password(b: Record<string, unknown>): string {
  const v = optionalString(b, 'password');
  if (v === undefined) throw kvError('invalid-body', 'field "password" is required');
  if (v.length < MIN_PASSWORD_LENGTH || v.length > MAX_PASSWORD_LENGTH) {
    throw kvError(
      'invalid-body',
      `password must be ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH} characters`,
    );
  }
  return v;
}

function check(r: AuthChangeResult): void {
  if (!r.ok) throw kvError(r.code, r.message);
}

export function authRoutes(b: AuthBackend, timeouts: BodyTimeouts = DEFAULT_BODY_TIMEOUTS): Router {
  const router = new Router();
  const body = (ctx: Koa.Context, allowed: readonly string[], emptyAsObject = false) =>
    readJsonObjectBody(ctx, BODY_LIMIT, allowed, { emptyAsObject, timeouts });
  const params = b.hashParams ?? SCRYPT_DEFAULTS;
  // A well-formed hash nobody's password matches, with the same cost, for unknown user names.
  const dummyHash = `scrypt$${Math.log2(params.N)}$${params.r}$${params.p}$${randomBytes(16).toString('base64url')}$${randomBytes(32).toString('base64url')}`;
  // The caller travels with the change: it is authorized again where the change applies.
  const propose = async (ctx: Koa.Context, c: AuthChange): Promise<void> =>
    check(await b.proposeAuth(c, callerOf(ctx)));

  router.get('/v1/auth/status', (ctx) => {
    noQuery(ctx);
    const who = (ctx.state.principal as { user: string } | null | undefined)?.user;
    ctx.body = { enabled: b.auth().enabled, ...(who !== undefined ? { user: who } : {}) };
  });

  router.get('/v1/auth/users', (ctx) => {
    noQuery(ctx);
    ctx.body = {
      users: b
        .auth()
        .users()
        .map((u) => ({ name: u.name, roles: u.roles })),
    };
  });
  router.post('/v1/auth/users', async (ctx) => {
    noQuery(ctx);
    const req = await body(ctx, ['name', 'password']);
    const name = requiredName(req, 'name');
    const passwordHash = await hashPassword(password(req), params);
    await propose(ctx, { type: 'add-user', name, passwordHash });
    ctx.status = 201;
    ctx.body = { name, roles: [] };
  });
  router.delete('/v1/auth/users/:name', async (ctx) => {
    noQuery(ctx);
    const name = pathName(ctx.params.name, 'user');
    if (b.auth().wouldLockOut({ type: 'delete-user', name })) {
      throw kvError('auth-not-ready', 'root cannot be deleted while auth is enabled');
    }
    await propose(ctx, { type: 'delete-user', name });
    ctx.body = { name, deleted: true };
  });
  router.post('/v1/auth/users/:name/password', async (ctx) => {
    noQuery(ctx);
    const name = pathName(ctx.params.name, 'user');
    const passwordHash = await hashPassword(password(await body(ctx, ['password'])), params);
    await propose(ctx, { type: 'set-password', name, passwordHash });
    ctx.body = { name, changed: true };
  });
  router.post('/v1/auth/users/:name/roles', async (ctx) => {
    noQuery(ctx);
    const user = pathName(ctx.params.name, 'user');
    const role = requiredName(await body(ctx, ['role']), 'role');
    await propose(ctx, { type: 'grant-role', user, role });
    ctx.body = { name: user, roles: b.auth().user(user)?.roles ?? [] };
  });
  router.delete('/v1/auth/users/:name/roles/:role', async (ctx) => {
    noQuery(ctx);
    const user = pathName(ctx.params.name, 'user');
    const role = pathName(ctx.params.role, 'role');
    await propose(ctx, { type: 'revoke-role', user, role });
    ctx.body = { name: user, roles: b.auth().user(user)?.roles ?? [] };
  });

  router.get('/v1/auth/roles', (ctx) => {
    noQuery(ctx);
    ctx.body = { roles: b.auth().roleList() };
  });
  router.post('/v1/auth/roles', async (ctx) => {
    noQuery(ctx);
    const req = await body(ctx, ['name', 'permissions']);
    const problem = roleProblem(req);
    if (problem) throw kvError('invalid-body', problem);
    const role = { name: req.name, permissions: req.permissions } as Role;
    await propose(ctx, { type: 'put-role', role });
    ctx.status = 201;
    ctx.body = role;
  });
  router.delete('/v1/auth/roles/:name', async (ctx) => {
    noQuery(ctx);
    const name = pathName(ctx.params.name, 'role');
    await propose(ctx, { type: 'delete-role', name });
    ctx.body = { name, deleted: true };
  });

  router.post('/v1/auth/enable', async (ctx) => {
    noQuery(ctx);
    await body(ctx, [], true);
    await propose(ctx, { type: 'enable', tokenKey: randomBytes(32).toString('base64') });
    ctx.body = { enabled: true };
  });
  router.post('/v1/auth/disable', async (ctx) => {
    noQuery(ctx);
    await body(ctx, [], true);
    await propose(ctx, { type: 'disable' });
    ctx.body = { enabled: false };
  });

  router.post('/v1/auth/token', async (ctx) => {
    noQuery(ctx);
    const req = await body(ctx, ['name', 'password']);
    const name = optionalString(req, 'name');
    const pw = optionalString(req, 'password');
    if (name === undefined || pw === undefined)
      throw kvError('invalid-body', 'fields "name" and "password" are required');
    const wait = b.limiter.retryAfterMs(name, b.now());
    if (wait > 0) {
      throw kvError('too-many-requests', `too many failed logins for ${JSON.stringify(name)}; retry later`, {
        headers: { 'Retry-After': String(Math.ceil(wait / 1000)) },
      });
    }
    // Check against the latest committed users (a password changed a moment ago on another member counts).
    await b.barrier();
    const store = b.auth();
    const user = isValidAuthName(name) ? store.user(name) : undefined;
    // A hash is computed even for an unknown user, so timing does not tell which names exist.
    const ok = await verifyPassword(pw, user?.passwordHash ?? dummyHash);
    if (!user || !ok) {
      b.limiter.failed(name, b.now());
      throw kvError('unauthenticated', 'wrong user name or password');
    }
    if (store.tokenKey === null)
      throw kvError('auth-not-ready', 'tokens are available once auth has been enabled');
    b.limiter.succeeded(name);
    const now = b.now();
    const exp = now + (b.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS);
    ctx.body = {
      token: issueToken(store.tokenKey, { sub: user.name, gen: user.generation, iat: now, exp }),
      expiresAt: new Date(exp).toISOString(),
    };
  });

  return router;
}
