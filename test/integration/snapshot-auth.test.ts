// kvctl snapshot save with auth enabled: the route is under /v1/cluster/, so it needs the root
// role; the snapshot carries users and roles, so a restored cluster accepts the same logins.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ProcCluster, freePort, http } from './harness.ts';
import { kvctl } from './backup-writer.ts';

async function call(url: string, method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

describe('snapshot save needs root once auth is on', { timeout: 120_000 }, () => {
  const clusters: ProcCluster[] = [];
  after(async () => {
    for (const c of clusters) await c.close();
  });

  test('no token: unauthenticated; a user without root: denied; root: saved, and logins survive a restore', async () => {
    const c = await ProcCluster.start(['s1']);
    clusters.push(c);
    const url = c.node('s1').url;
    assert.equal(
      (await call(url, 'POST', '/v1/auth/users', { name: 'root', password: 'root-password' })).status,
      201,
    );
    assert.equal((await call(url, 'POST', '/v1/auth/users/root/roles', { role: 'root' })).status, 200);
    assert.equal(
      (await call(url, 'POST', '/v1/auth/users', { name: 'bob', password: 'bob-password' })).status,
      201,
    );
    assert.equal((await call(url, 'POST', '/v1/auth/enable')).status, 200);
    const login = async (u: string, name: string, password: string) =>
      (await call(u, 'POST', '/v1/auth/token', { name, password })).body!.token as string;
    const root = await login(url, 'root', 'root-password');
    const bob = await login(url, 'bob', 'bob-password');
    assert.equal((await call(url, 'PUT', '/v1/kv/k', { value: 'v' }, root)).status, 200);

    const file = (n: string) => join(c.root, n);
    const anon = await kvctl(['--endpoints', url, 'snapshot', 'save', file('a.snap')]);
    assert.equal(anon.code, 1);
    assert.match(anon.stderr, /kvctl: unauthenticated: /);
    const denied = await kvctl(['--endpoints', url, 'snapshot', 'save', file('b.snap'), '--token', bob]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /kvctl: permission-denied: GET \/v1\/cluster\/snapshot needs the root role/);
    const ok = await kvctl(['--endpoints', url, 'snapshot', 'save', file('c.snap')], { KVCTL_TOKEN: root });
    assert.equal(ok.code, 0, ok.stderr);

    const port = await freePort();
    const dst = new ProcCluster();
    clusters.push(dst);
    const r = await kvctl([
      'snapshot',
      'restore',
      file('c.snap'),
      '--data-dir',
      join(dst.root, 'r1'),
      '--id',
      'r1',
      '--peers',
      `r1=127.0.0.1:${port}`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    dst.define('r1', port, ['-addr', `127.0.0.1:${port}`]);
    dst.spawn('r1');
    const newUrl = dst.node('r1').url;
    const { waitFor } = await import('./harness.ts');
    await waitFor(
      'the restored member to answer',
      async () => (await http('GET', `${newUrl}/readyz`)).status === 200,
      30_000,
    );
    assert.equal((await call(newUrl, 'GET', '/v1/kv/k')).status, 401, 'auth is still on');
    const root2 = await login(newUrl, 'root', 'root-password');
    const got = await call(newUrl, 'GET', '/v1/kv/k', undefined, root2);
    assert.equal(got.status, 200);
    assert.equal(got.body!.value, 'v');
  });
});
