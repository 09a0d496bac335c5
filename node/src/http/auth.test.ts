// The auth gate and the /v1/auth API over HTTP, with the real AuthStore applying changes at once
// (the node proposes them through Raft instead). Issue 14.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { AuthStore, type AuthChange } from '../auth/auth-store.ts';
import { LoginLimiter } from '../auth/login-limiter.ts';
import { createLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import type { Caller } from '../kv/commands.ts';
import { createApp } from './app.ts';
import { FakeKvService } from './fake-kv-service.ts';
import { startHttpServer, type RunningServer } from './server.ts';

let store: AuthStore;
let now: number;
let limiter: LoginLimiter;
let running: RunningServer;
let base: string;
const fake = new FakeKvService();
/** The caller each auth change was proposed with, in order. */
const authCallers: Caller[] = [];

before(async () => {
  const app = createApp(fake, {
    metrics: createMetrics({ defaultMetrics: false }),
    logger: createLogger({ level: 'error', write: () => undefined }),
    auth: {
      gate: { auth: () => store, now: () => now },
      backend: {
        auth: () => store,
        proposeAuth: (c: AuthChange, caller: Caller) => {
          authCallers.push(caller);
          return Promise.resolve(store.apply(c));
        },
        barrier: () => Promise.resolve(),
        now: () => now,
        get limiter() {
          return limiter;
        },
        hashParams: { N: 1 << 10, r: 8, p: 1 },
      },
    },
  });
  running = await startHttpServer(app, '127.0.0.1:0', null);
  base = `http://127.0.0.1:${running.address.port}`;
});
after(() => running.close(1000));
beforeEach(() => {
  store = new AuthStore();
  now = 1_800_000_000_000;
  limiter = new LoginLimiter({ freeFailures: 2, baseDelayMs: 60_000, maxDelayMs: 60_000, maxTracked: 100 });
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  const json = (res.headers.get('content-type') ?? '').includes('json');
  return { status: res.status, body: json && text ? JSON.parse(text) : text, headers: res.headers };
}

async function login(name: string, password: string): Promise<string> {
  const r = await call('POST', '/v1/auth/token', { name, password });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.token as string;
}

/** root/root-password with auth on, alice (app/ readwrite) and carol (config/ read). */
async function setUp(): Promise<{ root: string; alice: string; carol: string }> {
  assert.equal(
    (await call('POST', '/v1/auth/users', { name: 'root', password: 'root-password' })).status,
    201,
  );
  assert.equal(
    (await call('POST', '/v1/auth/enable')).status,
    409,
    'refused before root holds the root role',
  );
  assert.equal((await call('POST', '/v1/auth/users/root/roles', { role: 'root' })).status, 200);
  assert.equal((await call('POST', '/v1/auth/enable')).status, 200);
  const root = await login('root', 'root-password');
  for (const [name, prefix, access] of [
    ['alice', 'app/', 'readwrite'],
    ['carol', 'config/', 'read'],
  ] as const) {
    assert.equal(
      (
        await call(
          'POST',
          '/v1/auth/roles',
          { name: `${name}-role`, permissions: [{ prefix, access }] },
          root,
        )
      ).status,
      201,
    );
    assert.equal(
      (await call('POST', '/v1/auth/users', { name, password: `${name}-password` }, root)).status,
      201,
    );
    assert.equal(
      (await call('POST', `/v1/auth/users/${name}/roles`, { role: `${name}-role` }, root)).status,
      200,
    );
  }
  return {
    root,
    alice: await login('alice', 'alice-password'),
    carol: await login('carol', 'carol-password'),
  };
}

describe('auth over HTTP', () => {
  test('with auth disabled everything is open; enabling needs root with the root role', async () => {
    assert.equal((await call('PUT', '/v1/kv/a', { value: '1' })).status, 200);
    assert.deepEqual((await call('GET', '/v1/auth/status')).body, { enabled: false });
    await setUp();
    assert.equal((await call('GET', '/v1/auth/status')).body.enabled, true);
  });

  test('no credentials: 401 with WWW-Authenticate on every protected route; health stays open', async () => {
    await setUp();
    for (const [m, p] of [
      ['GET', '/v1/kv/app/x'],
      ['PUT', '/v1/kv/app/x'],
      ['GET', '/v1/status'],
      ['GET', '/v1/cluster/members'],
      ['POST', '/v1/cluster/leader'],
      ['DELETE', '/v1/cluster/members/n2'],
      ['GET', '/v1/auth/users'],
      ['GET', '/nope'],
    ] as const) {
      const r = await call(m, p, m === 'PUT' ? { value: 'v' } : undefined);
      assert.equal(r.status, 401, `${m} ${p}`);
      assert.equal(r.body.error.code, 'unauthenticated');
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
    }
    for (const p of ['/livez', '/readyz', '/metrics']) assert.notEqual((await call('GET', p)).status, 401, p);
  });

  test('per-prefix permissions: 403 permission-denied outside the grant, for keys, ranges and watches', async () => {
    const { alice, carol } = await setUp();
    assert.equal((await call('PUT', '/v1/kv/app/x', { value: 'v' }, alice)).status, 200);
    assert.equal((await call('GET', '/v1/kv/app/x', undefined, alice)).status, 200);
    assert.equal((await call('GET', '/v1/kv/app/?recurse', undefined, alice)).status, 200);
    assert.equal((await call('DELETE', '/v1/kv/app/x', undefined, alice)).status, 200);
    const denied = [
      ['PUT', '/v1/kv/config/x', alice],
      ['GET', '/v1/kv/config/x', alice],
      ['GET', '/v1/kv/ap?recurse', alice],
      ['GET', '/v1/kv/?keys', alice],
      ['GET', '/v1/kv/other?index=1&wait=1s', alice],
      ['GET', '/v1/kv/?recurse&index=1&wait=1s', alice],
      ['PUT', '/v1/kv/config/x', carol],
      ['DELETE', '/v1/kv/config/?recurse', carol],
      ['GET', '/v1/cluster/members', undefined],
      ['POST', '/v1/cluster/leader', alice],
      ['DELETE', '/v1/cluster/members/n2', alice],
      ['POST', '/v1/cluster/members', alice],
      ['GET', '/v1/auth/users', alice],
      ['POST', '/v1/auth/disable', carol],
    ] as const;
    for (const [m, p, t] of denied) {
      if (t === undefined) continue;
      const r = await call(m, p, m === 'PUT' ? { value: 'v' } : m === 'POST' ? {} : undefined, t);
      assert.equal(r.status, 403, `${m} ${p}`);
      assert.equal(r.body.error.code, 'permission-denied');
    }
    assert.equal(
      (await call('GET', '/v1/kv/config/x', undefined, carol)).status,
      404,
      'read allowed: the key just is not there',
    );
    assert.equal(
      (await call('GET', '/v1/status', undefined, carol)).status,
      200,
      'any user may read the status',
    );
  });

  test('tokens: wrong password 401, rate limited after repeated failures, revoked by a password change or deletion', async () => {
    const { root, alice } = await setUp();
    assert.equal(
      (await call('POST', '/v1/auth/token', { name: 'alice', password: 'wrong-password' })).status,
      401,
    );
    assert.equal(
      (await call('POST', '/v1/auth/token', { name: 'nobody', password: 'wrong-password' })).status,
      401,
    );
    await call('POST', '/v1/auth/token', { name: 'alice', password: 'wrong-password' });
    await call('POST', '/v1/auth/token', { name: 'alice', password: 'wrong-password' });
    const limited = await call('POST', '/v1/auth/token', { name: 'alice', password: 'alice-password' });
    assert.equal(limited.status, 429, 'even the right password waits once the limit is hit');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    assert.equal(
      (await call('GET', '/v1/kv/app/x', undefined, alice)).status,
      404,
      'the old token still works',
    );
    assert.equal(
      (await call('POST', '/v1/auth/users/alice/password', { password: 'new-alice-password' }, root)).status,
      200,
    );
    const revoked = await call('GET', '/v1/kv/app/x', undefined, alice);
    assert.equal(revoked.status, 401);
    assert.match(revoked.body.error.message, /revoked/);
    assert.equal((await call('GET', '/v1/kv/app/x', undefined, 'kv1.garbage.sig')).status, 401);
    assert.equal((await call('GET', '/v1/kv/app/x', undefined, root)).status, 404);
    now += 11 * 60_000 + 30_000;
    assert.match((await call('GET', '/v1/kv/app/x', undefined, root)).body.error.message, /expired/);
  });

  test('nothing secret is returned: users list names and roles only', async () => {
    const { root } = await setUp();
    const r = await call('GET', '/v1/auth/users', undefined, root);
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.users.map((u: { name: string }) => u.name),
      ['alice', 'carol', 'root'],
    );
    assert.ok(!JSON.stringify(r.body).includes('scrypt'));
    assert.equal(
      (await call('DELETE', '/v1/auth/users/root', undefined, root)).status,
      409,
      'root stays while auth is on',
    );
  });

  test('bad input is a 4xx and changes nothing', async () => {
    const { root } = await setUp();
    const before = JSON.stringify(store.snapshot());
    for (const [p, b] of [
      ['/v1/auth/users', { name: 'bad name', password: 'long-enough' }],
      ['/v1/auth/users', { name: 'dave', password: 'short' }],
      ['/v1/auth/users', { name: 'dave', password: 'long-enough', extra: 1 }],
      ['/v1/auth/roles', { name: 'r', permissions: [{ prefix: 'a', access: 'write' }] }],
      ['/v1/auth/users/nobody/roles', { role: 'alice-role' }],
      ['/v1/auth/users/alice/roles', { role: 'no-such-role' }],
    ] as const) {
      const r = await call('POST', p, b, root);
      assert.ok(r.status >= 400 && r.status < 500, `${p}: ${r.status}`);
      assert.equal(typeof r.body.error.code, 'string');
    }
    assert.equal(JSON.stringify(store.snapshot()), before);
  });
});

describe('a read that waited for a log enabling auth', () => {
  test('is answered 401 without credentials, not with the value (the gate checks again after it)', async () => {
    assert.equal(
      (await call('POST', '/v1/auth/users', { name: 'root', password: 'root-password' })).status,
      201,
    );
    assert.equal((await call('POST', '/v1/auth/users/root/roles', { role: 'root' })).status, 200);
    fake.store.set('secret', { key: 'secret', value: 'v', createIndex: 1, modifyIndex: 1, version: 1 });
    const get = fake.get.bind(fake);
    // The member's ReadIndex wait applies the entry that enables auth before the value is read.
    fake.get = (key, o) => {
      assert.ok(store.apply({ type: 'enable', tokenKey: Buffer.alloc(32, 7).toString('base64') }).ok);
      return get(key, o);
    };
    try {
      const r = await call('GET', '/v1/kv/secret');
      assert.equal(r.status, 401, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'unauthenticated');
    } finally {
      fake.get = get;
      fake.store.delete('secret');
    }
  });
});

describe('writes carry their caller to where they apply', () => {
  test('a PUT, a DELETE and an auth change name the user the gate found, or null without credentials', async () => {
    const seen: (Caller | undefined)[] = [];
    const put = fake.put.bind(fake);
    const del = fake.delete.bind(fake);
    fake.put = (key, value, o) => {
      seen.push(o.caller);
      return put(key, value, o);
    };
    fake.delete = (key, o) => {
      seen.push(o.caller);
      return del(key, o);
    };
    try {
      authCallers.length = 0;
      // Auth off: no credentials is null (the state machine refuses it if auth is on where it lands).
      assert.equal((await call('PUT', '/v1/kv/app/open', { value: '1' })).status, 200);
      assert.equal((await call('DELETE', '/v1/kv/app/open')).status, 200);
      const { alice } = await setUp();
      assert.deepEqual(authCallers.slice(0, 3), [null, null, null], 'changes made before auth was on');
      assert.equal(authCallers.at(-1), 'root');
      assert.equal((await call('PUT', '/v1/kv/app/x', { value: '1' }, alice)).status, 200);
      assert.equal((await call('DELETE', '/v1/kv/app/x', undefined, alice)).status, 200);
      assert.deepEqual(seen, [null, null, 'alice', 'alice']);
    } finally {
      fake.put = put;
      fake.delete = del;
    }
  });
});
