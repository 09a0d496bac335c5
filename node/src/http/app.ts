// The client and admin HTTP API (API.md) as a koa app over a KvService.
// Validation happens before any service call; every error leaves as
// `{"error":{"code","message"}}` with the status from errors.ts.
import Koa from 'koa';
import Router from '@koa/router';
import { performance } from 'node:perf_hooks';
import { isKvError, kvError, type ErrorCode, type KvError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import {
  decodeKey,
  DEFAULT_BODY_TIMEOUTS,
  memberId,
  memberUrl,
  noQuery,
  optionalString,
  parseJsonObject,
  Query,
  readBody,
  readJsonObjectBody,
  type BodyTimeouts,
} from './request.ts';
import { DurationError, parseDuration } from '../kv/duration.ts';
import type { Consistency, KeyValue, KvService, MemberRole } from './service.ts';
import { callerOf, createAuthGate, type AuthGateOptions } from './auth-gate.ts';
import { authRoutes, type AuthBackend } from './auth-routes.ts';
import { registerSnapshotRoute, type SnapshotSource } from '../backup/snapshot-route.ts';
import { registerBackupRoute, type BackupSource } from '../backup/backup-route.ts';
import { watchStream } from './watch-stream.ts';
import { registerForceRoute, type ForceTarget } from './force-route.ts';

export interface AppOptions {
  metrics: Metrics;
  logger: Logger;
  maxValueBytes?: number;
  maxKeyBytes?: number;
  /** Largest PUT body; JSON escaping can make a 1 MiB value longer than 1 MiB. */
  maxBodyBytes?: number;
  defaultListLimit?: number;
  maxListLimit?: number;
  defaultWatchWaitMs?: number;
  maxWatchWaitMs?: number;
  /** Authentication, authorization and the /v1/auth API (ADR 0068); absent: no auth routes at all. */
  auth?: { gate: Omit<AuthGateOptions, 'maxKeyBytes'>; backend: AuthBackend };
  /** A request body that stalls or takes longer than this is answered 408 and its buffer dropped. */
  bodyTimeouts?: BodyTimeouts;
  /** POST /v1/cluster/force-new-cluster (docs/adr/0077); absent: the route does not exist. */
  forceNewCluster?: ForceTarget;
  /** GET /v1/cluster/snapshot (backup/snapshot-route.ts); absent: no such route. */
  snapshot?: SnapshotSource;
  /** POST /v1/cluster/backup (backup/backup-route.ts); absent: no such route. */
  backup?: BackupSource;
  /** The /metrics text (default: `metrics.registry`); an HTTP worker asks the Raft thread for the process's. */
  metricsText?: () => Promise<{ contentType: string; body: string }>;
}

/** The koa app plus a switch that ends blocking watches when the server shuts down. */
export type KvApp = Koa & { readonly closing: AbortController };

const KV_PREFIX = '/v1/kv/';
const KV_ROUTE = '/v1/kv/{key}';
const ADMIN_BODY_LIMIT = 64 * 1024;
const INDEX_HEADER = 'X-KV-Index';

const KV_QUERY = {
  GET: ['consistency', 'recurse', 'keys', 'separator', 'limit', 'index', 'wait', 'stream'],
  PUT: ['cas'],
  DELETE: ['cas', 'recurse'],
} as const;

function kvJson(kv: KeyValue): KeyValue {
  // Fixed field order, and no undefined optionals, for readable, stable output.
  const out: KeyValue = {
    key: kv.key,
    value: kv.value,
    createIndex: kv.createIndex,
    modifyIndex: kv.modifyIndex,
    version: kv.version,
  };
  if (kv.ttl !== undefined) out.ttl = kv.ttl;
  if (kv.expiresAt !== undefined) out.expiresAt = kv.expiresAt;
  return out;
}

function statusCode(status: number): ErrorCode {
  if (status === 404) return 'not-found';
  if (status === 405 || status === 501) return 'method-not-allowed';
  if (status === 413) return 'value-too-large';
  if (status === 400) return 'invalid-parameter';
  return 'internal';
}

export function createApp(service: KvService, opts: AppOptions): KvApp {
  const maxValueBytes = opts.maxValueBytes ?? 1024 * 1024;
  const maxKeyBytes = opts.maxKeyBytes ?? 4096;
  const maxBodyBytes = opts.maxBodyBytes ?? 2 * maxValueBytes + 64 * 1024;
  const defaultListLimit = opts.defaultListLimit ?? 1000;
  const maxListLimit = opts.maxListLimit ?? 10_000;
  const defaultWatchWaitMs = opts.defaultWatchWaitMs ?? 5 * 60_000;
  const maxWatchWaitMs = opts.maxWatchWaitMs ?? 10 * 60_000;
  const bodyTimeouts = opts.bodyTimeouts ?? DEFAULT_BODY_TIMEOUTS;
  const { metrics } = opts;
  const log = opts.logger.child({ component: 'http' });

  const app = new Koa() as KvApp;
  Object.defineProperty(app, 'closing', { value: new AbortController(), enumerable: false });
  app.proxy = false;
  app.silent = true;
  app.on('error', (err: unknown) => log.warn('koa error', { err }));

  // Outermost: metrics, errors as JSON, and never an unhandled exception.
  app.use(async (ctx, next) => {
    const started = performance.now();
    metrics.httpRequestsInFlight.inc();
    try {
      await next();
      if ((ctx.body === undefined || ctx.body === null) && ctx.status >= 400) {
        const code = statusCode(ctx.status);
        const status = ctx.status;
        ctx.body = kvError(
          code,
          status === 404
            ? `no route for ${ctx.method} ${ctx.path}`
            : `${ctx.method} not allowed on ${ctx.path}`,
        ).toJSON();
        ctx.status = status;
      }
    } catch (err) {
      let e: KvError;
      if (isKvError(err)) e = err;
      else if (err instanceof URIError)
        e = kvError('invalid-parameter', 'malformed percent-encoding in the URL');
      else {
        const status = (err as { status?: unknown; expose?: unknown }).status;
        if (
          typeof status === 'number' &&
          status >= 400 &&
          status < 500 &&
          (err as { expose?: unknown }).expose === true
        ) {
          e = kvError(statusCode(status), (err as Error).message);
        } else {
          log.error('unhandled error in request', { method: ctx.method, path: ctx.path, err });
          e = kvError('internal', 'internal error');
        }
      }
      ctx.status = e.status;
      for (const [name, value] of Object.entries(e.headers ?? {})) ctx.set(name, value);
      ctx.body = e.toJSON();
      if (e.status >= 500)
        log.warn('request failed', { method: ctx.method, path: ctx.path, code: e.code, msg: e.message });
      else
        log.debug('request rejected', { method: ctx.method, path: ctx.path, code: e.code, msg: e.message });
    } finally {
      metrics.httpRequestsInFlight.dec();
      if (app.closing.signal.aborted) ctx.set('Connection', 'close');
      if (!ctx.response.get(INDEX_HEADER)) {
        try {
          ctx.set(INDEX_HEADER, String(service.appliedIndex()));
        } catch (err) {
          log.warn('appliedIndex() threw', { err });
        }
      }
      const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      const route =
        typeof ctx.state.route === 'string'
          ? ctx.state.route
          : typeof matched === 'string'
            ? matched
            : 'unmatched';
      metrics.httpRequestDurationSeconds.observe(
        { route, method: ctx.method, code: String(ctx.status) },
        (performance.now() - started) / 1000,
      );
    }
  });

  if (opts.auth) {
    app.use(createAuthGate({ ...opts.auth.gate, maxKeyBytes }));
    const auth = authRoutes(opts.auth.backend, bodyTimeouts);
    app.use(auth.routes());
    app.use(auth.allowedMethods());
  }

  // ------------------------------------------------------------------ KV
  app.use(async (ctx, next) => {
    if (ctx.path !== '/v1/kv' && !ctx.path.startsWith(KV_PREFIX)) {
      await next();
      return;
    }
    ctx.state.route = KV_ROUTE;
    const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
    if (method !== 'GET' && method !== 'PUT' && method !== 'DELETE') {
      ctx.set('Allow', 'GET, HEAD, PUT, DELETE');
      throw kvError('method-not-allowed', `${ctx.method} is not allowed on ${KV_ROUTE}`);
    }
    const query = new Query(ctx.querystring, KV_QUERY[method]);
    // The raw path keeps %2F and friends; decode once, here.
    const key = decodeKey(ctx.path.slice(KV_PREFIX.length), maxKeyBytes);
    if (method === 'GET') await kvGet(ctx, key, query);
    else if (method === 'PUT') await kvPut(ctx, key, query);
    else await kvDelete(ctx, key, query);
  });

  async function kvGet(ctx: Koa.Context, key: string, query: Query): Promise<void> {
    const consistencyText = query.string('consistency') ?? 'linearizable';
    if (consistencyText !== 'linearizable' && consistencyText !== 'stale') {
      throw kvError(
        'invalid-parameter',
        `consistency must be "linearizable" or "stale", got "${consistencyText}"`,
      );
    }
    const consistency: Consistency = consistencyText;
    const recurse = query.flag('recurse');
    const keysOnly = query.flag('keys');
    const listing = recurse || keysOnly;
    const separator = query.string('separator');
    if (separator !== undefined && !keysOnly) throw kvError('invalid-parameter', 'separator requires ?keys');
    if (separator === '') throw kvError('invalid-parameter', 'separator must not be empty');
    const limit = query.uint('limit', 1);
    if (limit !== undefined && !listing)
      throw kvError('invalid-parameter', 'limit requires ?recurse or ?keys');
    if (limit !== undefined && limit > maxListLimit)
      throw kvError('invalid-parameter', `limit must be at most ${maxListLimit}`);
    const index = query.uint('index');
    const wait = query.duration('wait');
    if (wait !== undefined && index === undefined) throw kvError('invalid-parameter', 'wait requires ?index');
    if (key === '' && !listing) throw kvError('invalid-key', 'key must not be empty');
    const stream = query.flag('stream');
    if (stream && index === undefined) throw kvError('invalid-parameter', 'stream requires ?index');

    if (stream && index !== undefined) {
      // The stream's ReadIndex round, before anything is sent: a failure is an ordinary error answer.
      if (consistency === 'linearizable' && service.barrier) await service.barrier();
      else if (consistency === 'linearizable') await service.get(key, { consistency });
      const gone = new AbortController();
      ctx.res.once('close', () => gone.abort());
      ctx.type = 'application/x-ndjson';
      ctx.body = watchStream(
        service,
        {
          key,
          listing,
          keysOnly,
          ...(separator !== undefined ? { separator } : {}),
          limit: limit ?? defaultListLimit,
          index,
          totalMs: Math.min(wait ?? defaultWatchWaitMs, maxWatchWaitMs),
        },
        AbortSignal.any([gone.signal, app.closing.signal]),
        metrics.watchersActive,
        kvJson,
      );
      // Headers now: the client knows the watch is in place before the first change.
      ctx.status = 200;
      ctx.set(INDEX_HEADER, String(index));
      ctx.flushHeaders();
      return;
    }

    let readConsistency = consistency;
    if (index !== undefined) {
      // Any ReadIndex taken after the request arrived makes the answer linearizable, so take it while
      // the watch waits: a woken watcher then reads locally instead of queueing for a quorum round
      // (with 1,000 watchers on a prefix, that round was most of each event's latency). If it fails
      // (no leader, timeout), the read after the wake does its own round as before.
      const confirmed =
        consistency === 'linearizable' && service.barrier
          ? service.barrier().then(
              () => true,
              () => false,
            )
          : null;
      const waitMs = Math.min(wait ?? defaultWatchWaitMs, maxWatchWaitMs);
      const clientGone = new AbortController();
      const onClose = (): void => {
        if (!ctx.res.writableFinished) clientGone.abort();
      };
      ctx.res.once('close', onClose);
      metrics.watchersActive.inc();
      try {
        await service.watch(
          key,
          { recurse: listing, index, waitMs },
          AbortSignal.any([clientGone.signal, app.closing.signal]),
        );
      } catch (err) {
        // The client hung up, or the server is closing: neither is an error of the request. A
        // closing server answers with the current value, as if the wait had ended.
        if (!clientGone.signal.aborted && !app.closing.signal.aborted) throw err;
      } finally {
        metrics.watchersActive.dec();
        ctx.res.off('close', onClose);
      }
      if (clientGone.signal.aborted) {
        ctx.status = 204; // nobody to answer; skip the read
        return;
      }
      if (confirmed !== null && (await confirmed)) readConsistency = 'stale';
    }

    if (listing) {
      const listOpts = {
        consistency: readConsistency,
        limit: limit ?? defaultListLimit,
        keysOnly,
        ...(separator !== undefined ? { separator } : {}),
      };
      const r = await service.list(key, listOpts);
      ctx.set(INDEX_HEADER, String(r.index));
      const items = keysOnly ? r.items : (r.items as KeyValue[]).map(kvJson);
      ctx.body = { items, more: r.more };
      return;
    }
    const r = await service.get(key, { consistency: readConsistency });
    ctx.set(INDEX_HEADER, String(r.index));
    if (!r.kv) throw kvError('key-not-found', `key "${key}" not found`);
    ctx.body = kvJson(r.kv);
  }

  async function kvPut(ctx: Koa.Context, key: string, query: Query): Promise<void> {
    const cas = query.uint('cas');
    if (key === '') throw kvError('invalid-key', 'key must not be empty');
    const tooLarge = (): KvError => {
      ctx.set('Connection', 'close');
      return kvError(
        'value-too-large',
        `request body exceeds ${maxBodyBytes} bytes (values are limited to ${maxValueBytes} bytes)`,
      );
    };
    const body = parseJsonObject(await readBody(ctx.req, maxBodyBytes, tooLarge, bodyTimeouts), [
      'value',
      'ttl',
    ]);
    const value = body.value;
    if (typeof value !== 'string') {
      throw kvError(
        'invalid-body',
        value === undefined ? 'field "value" is required' : 'field "value" must be a string',
      );
    }
    const valueBytes = Buffer.byteLength(value, 'utf8');
    if (valueBytes > maxValueBytes)
      throw kvError('value-too-large', `value is ${valueBytes} bytes; the limit is ${maxValueBytes}`);
    const ttl = optionalString(body, 'ttl');
    let ttlMs: number | undefined;
    if (ttl !== undefined) {
      try {
        ttlMs = parseDuration(ttl);
      } catch (e) {
        if (e instanceof DurationError)
          throw kvError('invalid-ttl', `ttl: ${e.message} (use a Go duration like "5s", "1.5h", "300ms")`);
        throw e;
      }
      if (!(ttlMs > 0)) throw kvError('invalid-ttl', `ttl must be positive, got "${ttl}"`);
      if (ttlMs > Number.MAX_SAFE_INTEGER / 2) throw kvError('invalid-ttl', `ttl "${ttl}" is too long`);
    }
    const r = await service.put(key, value, {
      ...(ttl !== undefined ? { ttl, ttlMs } : {}),
      ...(cas !== undefined ? { cas } : {}),
      caller: callerOf(ctx),
    });
    ctx.set(INDEX_HEADER, String(r.index));
    ctx.body = kvJson(r.kv);
  }

  async function kvDelete(ctx: Koa.Context, key: string, query: Query): Promise<void> {
    const cas = query.uint('cas');
    const recurse = query.flag('recurse');
    if (key === '')
      throw kvError(
        'invalid-key',
        recurse ? 'refusing to delete every key: give a prefix' : 'key must not be empty',
      );
    if (cas !== undefined && recurse)
      throw kvError('invalid-parameter', 'cas cannot be combined with recurse');
    const r = await service.delete(key, {
      recurse,
      ...(cas !== undefined ? { cas } : {}),
      caller: callerOf(ctx),
    });
    ctx.set(INDEX_HEADER, String(r.index));
    ctx.body = recurse ? { deleted: r.deleted > 0, count: r.deleted } : { deleted: r.deleted > 0 };
  }

  // ------------------------------------------------------------------ admin and health
  const router = new Router();
  const adminBody = (ctx: Koa.Context, allowed: readonly string[], emptyAsObject = false) =>
    readJsonObjectBody(ctx, ADMIN_BODY_LIMIT, allowed, { emptyAsObject, timeouts: bodyTimeouts });

  router.get('/v1/status', async (ctx) => {
    noQuery(ctx);
    const s = await service.status();
    ctx.set(INDEX_HEADER, String(s.appliedIndex));
    ctx.body = s;
  });
  router.get('/v1/cluster/members', async (ctx) => {
    noQuery(ctx);
    ctx.body = await service.members();
  });
  router.post('/v1/cluster/members', async (ctx) => {
    noQuery(ctx);
    const body = await adminBody(ctx, ['id', 'peerUrl', 'clientUrl', 'role']);
    const idText = optionalString(body, 'id');
    if (idText === undefined) throw kvError('invalid-body', 'field "id" is required');
    const id = memberId(idText);
    const peerUrlText = optionalString(body, 'peerUrl');
    if (peerUrlText === undefined) throw kvError('invalid-body', 'field "peerUrl" is required');
    const peerUrl = memberUrl(peerUrlText, 'peerUrl');
    const clientUrlText = optionalString(body, 'clientUrl');
    const clientUrl = clientUrlText === undefined ? undefined : memberUrl(clientUrlText, 'clientUrl');
    const roleText = optionalString(body, 'role') ?? 'learner';
    if (roleText !== 'learner' && roleText !== 'voter')
      throw kvError('invalid-body', `role must be "learner" or "voter", got "${roleText}"`);
    const role: MemberRole = roleText;
    const member = await service.addMember({
      id,
      peerUrl,
      role,
      ...(clientUrl !== undefined ? { clientUrl } : {}),
    });
    ctx.status = 201;
    ctx.body = member;
  });
  router.post('/v1/cluster/members/:id/promote', async (ctx) => {
    noQuery(ctx);
    const id = memberId(ctx.params.id);
    await service.promoteMember(id);
    ctx.body = { id, role: 'voter' };
  });
  router.post('/v1/cluster/members/:id/demote', async (ctx) => {
    noQuery(ctx);
    const id = memberId(ctx.params.id);
    await service.demoteMember(id);
    ctx.body = { id, role: 'learner' };
  });
  router.delete('/v1/cluster/members/:id', async (ctx) => {
    noQuery(ctx);
    const id = memberId(ctx.params.id);
    await service.removeMember(id);
    ctx.body = { id, removed: true };
  });
  router.post('/v1/cluster/leader', async (ctx) => {
    noQuery(ctx);
    const body = await adminBody(ctx, ['to'], true);
    const toText = optionalString(body, 'to');
    const to = toText === undefined ? undefined : memberId(toText, 'target id');
    ctx.body = await service.transferLeadership(to);
  });
  router.get('/livez', async (ctx) => {
    noQuery(ctx);
    const live = await service.livez();
    ctx.status = live ? 200 : 503;
    if (!live) ctx.set('Retry-After', '1');
    ctx.body = live ? { status: 'ok' } : kvError('unavailable', 'not live').toJSON();
  });
  router.get('/readyz', async (ctx) => {
    noQuery(ctx);
    const r = await service.readyz();
    ctx.status = r.ready ? 200 : 503;
    if (r.ready) {
      ctx.body = r;
      return;
    }
    ctx.set('Retry-After', '1');
    // Probes read `ready`/`checks`; generic clients still find the usual error object.
    const failing = r.checks
      .filter((c) => !c.ok)
      .map((c) => (c.message === undefined ? c.name : `${c.name}: ${c.message}`));
    ctx.body = {
      ...kvError('unavailable', `not ready (${failing.join('; ') || 'no checks passed'})`).toJSON(),
      ...r,
    };
  });
  router.get('/metrics', async (ctx) => {
    noQuery(ctx);
    if (opts.metricsText) {
      const m = await opts.metricsText();
      ctx.type = m.contentType;
      ctx.body = m.body;
      return;
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  if (opts.snapshot) registerSnapshotRoute(router, opts.snapshot);
  if (opts.forceNewCluster) registerForceRoute(router, opts.forceNewCluster, bodyTimeouts);
  if (opts.backup) registerBackupRoute(router, opts.backup);

  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
