// A client CA bundle without -client-cert-auth (ADR 0074): the client port asks for a certificate
// but does not require one. A presented certificate must chain to -trusted-ca-file (else the
// connection is closed before a request is read, even one carrying a valid token) and its CN is
// the user; without a certificate, bearer tokens apply as before, and probes stay open. This is
// what lets the operator authenticate by certificate while apps and kubelet probes do not need one.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, ProcCluster, waitFor } from './harness.ts';
import { TestPki, type IssuedFiles } from '../../node/src/security/test-certs.test-helper.ts';

interface Answer {
  status: number;
  body: any;
}

function call(
  base: string,
  method: string,
  path: string,
  creds: { ca: string; cert?: IssuedFiles; token?: string },
  body?: unknown,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, base), {
      method,
      agent: false,
      timeout: 10_000,
      ca: readFileSync(creds.ca),
      ...(creds.cert ? { cert: readFileSync(creds.cert.cert), key: readFileSync(creds.cert.key) } : {}),
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(creds.token !== undefined ? { authorization: `Bearer ${creds.token}` } : {}),
      },
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.once('end', () => {
        let parsed: unknown = text;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          /* keep text */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.end(body !== undefined ? JSON.stringify(body) : undefined);
  });
}

describe('client certificates verified when presented, tokens otherwise', () => {
  const pki = new TestPki();
  const ca = pki.ca('ca');
  const other = pki.ca('other');
  const ids = ['o1', 'o2', 'o3'];
  const bundle = pki.bundle('bundle', [ca]);
  const user = (name: string, issuer: IssuedFiles, o: { expired?: boolean; file?: string } = {}) =>
    pki.leaf(o.file ?? `user-${name}`, issuer, {
      cn: name,
      sans: [],
      ...(o.expired ? { expired: true } : {}),
    });
  const root = user('root', ca);
  const reader = user('reader', ca);
  const rootOtherCa = user('root', other, { file: 'root-other' });
  const rootExpired = user('root', ca, { expired: true, file: 'root-expired' });
  let c: ProcCluster;
  const url = (id: string): string => c.node(id).url;
  const rootPassword = 'root-password-123';

  before(async () => {
    c = new ProcCluster();
    const ports = new Map<string, number>();
    const peerPorts = new Map<string, number>();
    for (const id of ids) {
      ports.set(id, await freePort());
      peerPorts.set(id, await freePort());
      pki.leaf(id, ca, { cn: id, sans: ['IP:127.0.0.1', `URI:urn:kvstore:member:${id}`] });
    }
    for (const id of ids) {
      const peers = ids
        .filter((p) => p !== id)
        .map((p) => `${p}=127.0.0.1:${peerPorts.get(p)}`)
        .join(',');
      const cert = join(pki.dir, `${id}.crt`);
      const key = join(pki.dir, `${id}.key`);
      const n = c.define(id, ports.get(id)!, [
        '-addr',
        `127.0.0.1:${ports.get(id)}`,
        '-peer-addr',
        `127.0.0.1:${peerPorts.get(id)}`,
        '-peers',
        peers,
        '-cert-file',
        cert,
        '-key-file',
        key,
        // No -client-cert-auth: certificates are optional, verified when presented.
        '-trusted-ca-file',
        bundle,
        '-peer-cert-file',
        cert,
        '-peer-key-file',
        key,
        '-peer-trusted-ca-file',
        bundle,
      ]);
      n.url = `https://127.0.0.1:${ports.get(id)}`;
    }
    for (const id of ids) c.spawn(id);
  });
  after(async () => {
    await c.close();
    pki.cleanup();
  });

  const leader = (): Promise<string> =>
    waitFor('a leader all members agree on', async () => {
      const seen = new Set<string>();
      for (const id of ids)
        seen.add(String((await call(url(id), 'GET', '/v1/status', { ca: bundle, cert: root })).body.leader));
      const [only] = [...seen];
      return seen.size === 1 && only !== 'null' ? only : undefined;
    });

  test('auth bootstrapped and enabled by a CN=root certificate, through a follower', async () => {
    const l = await leader();
    const f = ids.find((id) => id !== l)!;
    // Every admin call goes to a follower: forwarded to the leader, which must see root again.
    const post = (path: string, body: unknown) =>
      call(url(f), 'POST', path, { ca: bundle, cert: root }, body);
    assert.equal((await post('/v1/auth/users', { name: 'root', password: rootPassword })).status, 201);
    assert.equal((await post('/v1/auth/users/root/roles', { role: 'root' })).status, 200);
    assert.equal((await post('/v1/auth/users', { name: 'reader', password: 'reader-password' })).status, 201);
    const role = { name: 'read-all', permissions: [{ prefix: '', access: 'read' }] };
    assert.equal((await post('/v1/auth/roles', role)).status, 201);
    assert.equal((await post('/v1/auth/users/reader/roles', { role: 'read-all' })).status, 200);
    assert.equal((await post('/v1/auth/enable', {})).status, 200);
    for (const id of ids)
      await waitFor(`auth on at ${id}`, async () => {
        const r = await call(url(id), 'GET', '/v1/kv/x', { ca: bundle });
        return r.status === 401;
      });
  });

  test('a certificate with CN=root has root rights without a token, on every member', async () => {
    const l = await leader();
    for (const id of ids) {
      const users = await call(url(id), 'GET', '/v1/auth/users', { ca: bundle, cert: root });
      assert.equal(users.status, 200, `${id}: ${JSON.stringify(users.body)}`);
      const put = await call(
        url(id),
        'PUT',
        `/v1/kv/by-cert-${id}`,
        { ca: bundle, cert: root },
        { value: id },
      );
      assert.equal(put.status, 200, `${id}: ${JSON.stringify(put.body)}`);
    }
    // A root-only route on a follower is forwarded with the certificate identity.
    const f = ids.find((id) => id !== l)!;
    const to = ids.find((id) => id !== l && id !== f)!;
    const moved = await call(url(f), 'POST', '/v1/cluster/leader', { ca: bundle, cert: root }, { to });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    // A certificate user without the right role is refused: the CN is the identity, not a pass.
    const w = await call(url(l), 'PUT', '/v1/kv/by-reader', { ca: bundle, cert: reader }, { value: '1' });
    assert.equal(w.status, 403, JSON.stringify(w.body));
    assert.equal(w.body.error.code, 'permission-denied');
    const r = await call(url(l), 'GET', '/v1/kv/by-cert-o1', { ca: bundle, cert: reader });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  test('a certificate from another CA, or expired, is refused at the handshake, even with a valid token', async () => {
    const login = await call(
      url('o1'),
      'POST',
      '/v1/auth/token',
      { ca: bundle },
      {
        name: 'root',
        password: rootPassword,
      },
    );
    assert.equal(login.status, 200);
    const token = login.body.token as string;
    await assert.rejects(call(url('o1'), 'GET', '/v1/kv/by-cert-o1', { ca: bundle, cert: rootOtherCa }));
    await assert.rejects(
      call(url('o1'), 'GET', '/v1/kv/by-cert-o1', { ca: bundle, cert: rootOtherCa, token }),
    );
    await assert.rejects(
      call(url('o1'), 'GET', '/livez', { ca: bundle, cert: rootOtherCa }),
      'not even probes',
    );
    await assert.rejects(
      call(url('o1'), 'GET', '/v1/kv/by-cert-o1', { ca: bundle, cert: rootExpired, token }),
    );
  });

  test('without a certificate: a token works, no credentials is 401, probes and metrics stay open', async () => {
    const login = await call(
      url('o2'),
      'POST',
      '/v1/auth/token',
      { ca: bundle },
      {
        name: 'root',
        password: rootPassword,
      },
    );
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const token = login.body.token as string;
    const ok = await call(url('o2'), 'PUT', '/v1/kv/by-token', { ca: bundle, token }, { value: 't' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const none = await call(url('o2'), 'GET', '/v1/kv/by-token', { ca: bundle });
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'unauthenticated');
    assert.equal((await call(url('o2'), 'GET', '/v1/auth/users', { ca: bundle })).status, 401);
    assert.equal((await call(url('o2'), 'GET', '/livez', { ca: bundle })).status, 200);
    assert.equal((await call(url('o2'), 'GET', '/readyz', { ca: bundle })).status, 200);
    assert.equal((await call(url('o2'), 'GET', '/metrics', { ca: bundle })).status, 200);
  });
});

describe('-listen-metrics-addr: probes and metrics apart from a client port that requires certificates', () => {
  const pki = new TestPki();
  const ca = pki.ca('ca');
  const bundle = pki.bundle('bundle', [ca]);
  let c: ProcCluster;
  let metricsPort = 0;

  before(async () => {
    c = new ProcCluster();
    const port = await freePort();
    metricsPort = await freePort();
    pki.leaf('m1', ca, { cn: 'm1', sans: ['IP:127.0.0.1'] });
    const n = c.define('m1', port, [
      '-addr',
      `127.0.0.1:${port}`,
      '-cert-file',
      join(pki.dir, 'm1.crt'),
      '-key-file',
      join(pki.dir, 'm1.key'),
      '-trusted-ca-file',
      bundle,
      '-client-cert-auth',
      '-listen-metrics-addr',
      `127.0.0.1:${metricsPort}`,
    ]);
    n.url = `https://127.0.0.1:${port}`;
    c.spawn('m1');
  });
  after(async () => {
    await c.close();
    pki.cleanup();
  });

  test('the metrics port serves /livez, /readyz and /metrics over plain HTTP and nothing else', async () => {
    const base = `http://127.0.0.1:${metricsPort}`;
    const fetchIt = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(5000) });
    await waitFor('ready on the metrics port', async () => (await fetchIt('/readyz')).status === 200);
    assert.equal((await fetchIt('/livez')).status, 200);
    const m = await fetchIt('/metrics');
    assert.equal(m.status, 200);
    assert.match(await m.text(), /kvstore_/);
    for (const [path, init] of [
      ['/v1/kv/x', {}],
      ['/v1/status', {}],
      ['/v1/auth/users', {}],
      ['/livez', { method: 'POST' }],
    ] as [string, RequestInit][]) {
      const r = await fetchIt(path, init);
      assert.equal(r.status, 404, path);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'not-found');
    }
    // The client port itself still requires a certificate, probes included.
    await assert.rejects(call(c.node('m1').url, 'GET', '/livez', { ca: bundle }));
  });
});
