// Users, roles and tokens on real node processes (issue 14): replicated through the log,
// enforced on every member, carried by snapshots to a new member, kept across a full restart.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProcCluster, waitFor } from './harness.ts';

interface Answer {
  status: number;
  body: any;
}

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text,
  };
}

describe('auth on a real cluster', () => {
  let c: ProcCluster;
  const url = (id: string): string => c.node(id).url;
  const login = async (id: string, name: string, password: string): Promise<string> => {
    const r = await call(url(id), 'POST', '/v1/auth/token', { name, password });
    assert.equal(r.status, 200, `${id}: ${JSON.stringify(r.body)}`);
    return r.body.token as string;
  };
  const leaderOf = async (token: string): Promise<string> =>
    waitFor('a leader', async () => {
      for (const n of c.running()) {
        const s = await call(n.url, 'GET', '/v1/status', undefined, token).catch(() => null);
        if (s?.status === 200 && s.body.leader) return s.body.leader as string;
      }
      return undefined;
    });
  let root = '';
  let alice = '';

  before(async () => {
    c = await ProcCluster.start(['a1', 'a2', 'a3'], ['-snapshot-threshold', '50']);
  });
  after(() => c.close());

  test('enabling: root with the root role first; then no credentials is 401 on every member', async () => {
    assert.equal(
      (await call(url('a1'), 'POST', '/v1/auth/users', { name: 'root', password: 'root-password' })).status,
      201,
    );
    assert.equal(
      (await call(url('a2'), 'POST', '/v1/auth/enable')).status,
      409,
      'refused before root holds root',
    );
    assert.equal((await call(url('a3'), 'POST', '/v1/auth/users/root/roles', { role: 'root' })).status, 200);
    assert.equal((await call(url('a2'), 'POST', '/v1/auth/enable')).status, 200);
    for (const id of ['a1', 'a2', 'a3']) {
      const r = await call(url(id), 'GET', '/v1/kv/anything');
      assert.equal(r.status, 401, id);
      assert.equal(r.body.error.code, 'unauthenticated');
      assert.equal((await call(url(id), 'GET', '/readyz')).status, 200, `${id}: health stays open`);
    }
    root = await login('a1', 'root', 'root-password');
    assert.equal(
      (
        await call(
          url('a3'),
          'POST',
          '/v1/auth/roles',
          { name: 'app-rw', permissions: [{ prefix: 'app/', access: 'readwrite' }] },
          root,
        )
      ).status,
      201,
    );
    assert.equal(
      (await call(url('a1'), 'POST', '/v1/auth/users', { name: 'alice', password: 'alice-password' }, root))
        .status,
      201,
    );
    assert.equal(
      (await call(url('a2'), 'POST', '/v1/auth/users/alice/roles', { role: 'app-rw' }, root)).status,
      200,
    );
    alice = await login('a3', 'alice', 'alice-password');
  });

  test('a token from one member works on every member; permissions are per prefix', async () => {
    for (const id of ['a1', 'a2', 'a3']) {
      assert.equal((await call(url(id), 'PUT', `/v1/kv/app/${id}`, { value: 'v' }, alice)).status, 200, id);
      assert.equal((await call(url(id), 'GET', `/v1/kv/app/${id}`, undefined, alice)).status, 200, id);
      const denied = await call(url(id), 'PUT', '/v1/kv/config/x', { value: 'v' }, alice);
      assert.equal(denied.status, 403, id);
      assert.equal(denied.body.error.code, 'permission-denied');
      assert.equal(
        (await call(url(id), 'GET', '/v1/kv/?recurse', undefined, alice)).status,
        403,
        `${id}: a range beyond the grant`,
      );
    }
  });

  test('membership and leadership need root, also when a follower forwards them to the leader', async () => {
    const leader = await leaderOf(root);
    const follower = ['a1', 'a2', 'a3'].find((id) => id !== leader)!;
    assert.equal((await call(url(follower), 'POST', '/v1/cluster/leader', {}, alice)).status, 403);
    assert.equal(
      (await call(url(follower), 'DELETE', `/v1/cluster/members/${leader}`, undefined, alice)).status,
      403,
    );
    const moved = await call(url(follower), 'POST', '/v1/cluster/leader', {}, root);
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    const members = await call(url(follower), 'GET', '/v1/cluster/members', undefined, root);
    assert.equal(members.status, 200, 'the forwarded read carries the credentials too');
    assert.equal(members.body.members.length, 3);
  });

  test('a new member gets users and roles through a snapshot and accepts the existing tokens', async () => {
    for (let i = 0; i < 120; i++)
      assert.equal(
        (await call(url('a1'), 'PUT', `/v1/kv/app/bulk${i}`, { value: String(i) }, root)).status,
        200,
      );
    const joiner = await c.defineJoiner('a4');
    const added = await call(
      url('a2'),
      'POST',
      '/v1/cluster/members',
      { id: 'a4', peerUrl: joiner.url, clientUrl: joiner.url },
      root,
    );
    assert.equal(added.status, 201, JSON.stringify(added.body));
    c.spawn('a4');
    await waitFor(
      'a4 caught up',
      async () => (await call(joiner.url, 'GET', '/readyz')).status === 200 || undefined,
      30_000,
    );
    assert.equal((await call(joiner.url, 'GET', '/v1/kv/app/bulk119', undefined, alice)).body.value, '119');
    assert.equal((await call(joiner.url, 'GET', '/v1/kv/config/x', undefined, alice)).status, 403);
    const log = await import('node:fs').then((fs) => fs.readFileSync(c.node('a4').logFile, 'utf8'));
    assert.match(log, /installed snapshot/, 'the new member started from a snapshot');
    assert.ok(await login('a4', 'alice', 'alice-password'));
  });

  test('users, roles and tokens survive a full restart; a password change revokes old tokens everywhere', async () => {
    for (const n of c.running()) await c.stop(n.id);
    for (const id of ['a1', 'a2', 'a3', 'a4']) c.spawn(id);
    await leaderOf(root);
    await waitFor(
      'all ready',
      async () => {
        for (const id of ['a1', 'a2', 'a3', 'a4'])
          if ((await call(url(id), 'GET', '/readyz')).status !== 200) return undefined;
        return true;
      },
      30_000,
    );
    assert.equal(
      (await call(url('a2'), 'GET', '/v1/kv/app/a1', undefined, alice)).status,
      200,
      'an old token still works',
    );
    assert.equal((await call(url('a3'), 'GET', '/v1/kv/anything')).status, 401, 'still enabled');
    assert.equal(
      (await call(url('a1'), 'POST', '/v1/auth/users/alice/password', { password: 'alice-password-2' }, root))
        .status,
      200,
    );
    for (const id of ['a1', 'a2', 'a3', 'a4']) {
      await waitFor(
        `${id} applied the change`,
        async () =>
          (await call(url(id), 'GET', '/v1/kv/app/a1', undefined, alice)).status === 401 || undefined,
      );
    }
    assert.equal(
      (await call(url('a4'), 'POST', '/v1/auth/token', { name: 'alice', password: 'alice-password' })).status,
      401,
    );
    assert.ok(await login('a4', 'alice', 'alice-password-2'));
  });
});
