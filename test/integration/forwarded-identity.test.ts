// A caller identified only by its client certificate, sending an admin request to a follower
// (ADR 0068): the follower forwards it over its own member certificate and asserts the caller's
// name in x-kvstore-forwarded-user; the leader believes that header only from a connection with a
// member's peer certificate. Real processes, client TLS with -client-cert-auth, peer mTLS, auth on.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
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
  o: { ca: string; cert: IssuedFiles; headers?: Record<string, string> },
  body?: unknown,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(path, base), {
      method,
      agent: false,
      timeout: 10_000,
      ca: readFileSync(o.ca),
      cert: readFileSync(o.cert.cert),
      key: readFileSync(o.cert.key),
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...o.headers },
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

describe('certificate-identified callers across a follower-to-leader forward', () => {
  const pki = new TestPki();
  const ca = pki.ca('ca');
  const otherPeerCa = pki.ca('other-peer-ca');
  const ids = ['f1', 'f2', 'f3'];
  const memberCert = (id: string): IssuedFiles =>
    pki.leaf(id, ca, { cn: id, sans: ['IP:127.0.0.1', `URI:urn:kvstore:member:${id}`] });
  const user = (name: string): IssuedFiles => pki.leaf(`user-${name}`, ca, { cn: name, sans: [] });
  const root = user('root');
  const alice = user('alice');
  const bundle = pki.bundle('client-cas', [ca, otherPeerCa]);
  let c: ProcCluster;
  const as = (cert: IssuedFiles, headers?: Record<string, string>) => ({
    ca: ca.cert,
    cert,
    ...(headers ? { headers } : {}),
  });

  before(async () => {
    c = new ProcCluster();
    const peerPorts = new Map<string, number>();
    for (const id of ids) peerPorts.set(id, await freePort());
    for (const id of ids) {
      const port = await freePort();
      const m = memberCert(id);
      const n = c.define(id, port, [
        '-addr',
        `127.0.0.1:${port}`,
        '-peer-addr',
        `127.0.0.1:${peerPorts.get(id)}`,
        '-peers',
        ids
          .filter((p) => p !== id)
          .map((p) => `${p}=127.0.0.1:${peerPorts.get(p)}`)
          .join(','),
        '-cert-file',
        m.cert,
        '-key-file',
        m.key,
        '-trusted-ca-file',
        // Clients may also hold certificates of a second CA that is not a peer CA.
        bundle,
        '-client-cert-auth',
        '-peer-cert-file',
        m.cert,
        '-peer-key-file',
        m.key,
        '-peer-trusted-ca-file',
        ca.cert,
      ]);
      n.url = `https://127.0.0.1:${port}`;
    }
    for (const id of ids) c.spawn(id);
    const l = await leader();
    const post = (path: string, body: unknown): Promise<Answer> =>
      call(c.node(l).url, 'POST', path, as(root), body);
    assert.equal((await post('/v1/auth/users', { name: 'root', password: 'root-password' })).status, 201);
    assert.equal((await post('/v1/auth/users/root/roles', { role: 'root' })).status, 200);
    assert.equal((await post('/v1/auth/users', { name: 'alice', password: 'alice-password' })).status, 201);
    assert.equal((await post('/v1/auth/enable', {})).status, 200);
    for (const id of ids)
      await waitFor(`auth on at ${id}`, async () => {
        const r = await call(c.node(id).url, 'GET', '/v1/status', as(user('nobody')));
        return r.status === 403;
      });
  });
  after(async () => {
    await c?.close();
    pki.cleanup();
  });

  const leader = (): Promise<string> =>
    waitFor('a leader all members agree on', async () => {
      const seen = new Set<string>();
      for (const id of ids)
        seen.add(String((await call(c.node(id).url, 'GET', '/v1/status', as(root))).body.leader));
      const [only] = [...seen];
      return seen.size === 1 && only !== 'null' ? only : undefined;
    });

  test('root by certificate: an admin request sent to a follower is carried out as root', async () => {
    const l = await leader();
    const [f1, f2] = ids.filter((id) => id !== l) as [string, string];
    const r = await call(c.node(f1).url, 'POST', '/v1/cluster/leader', as(root), { to: f2 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(await leader(), f2);
    // The membership list a follower fetches from the leader needs a user: forwarded too.
    const m = await call(c.node(f1).url, 'GET', '/v1/cluster/members', as(root));
    assert.equal(m.status, 200, JSON.stringify(m.body));
    assert.equal(m.body.leader, f2);
  });

  test('a non-root user by certificate stays that user across the forward (403, not the member)', async () => {
    const l = await leader();
    const f = ids.find((id) => id !== l)!;
    const r = await call(c.node(f).url, 'POST', '/v1/cluster/leader', as(alice), { to: f });
    assert.equal(r.status, 403, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'permission-denied');
    assert.match(r.body.error.message, /root role/);
    assert.equal(await leader(), l, 'leadership did not move');
  });

  test('the forwarded-user header from anything but a member certificate is refused', async () => {
    const l = await leader();
    const f = ids.find((id) => id !== l)!;
    const claim = { 'x-kvstore-forwarded-user': 'root' };
    for (const [what, cert] of [
      ['a user certificate', alice],
      // A certificate with a member's URI, but from a CA that is only a client CA, not a peer CA.
      [
        'a member-looking certificate of a non-peer CA',
        pki.leaf('fake-member', otherPeerCa, {
          cn: 'alice',
          sans: ['IP:127.0.0.1', `URI:urn:kvstore:member:${l}`],
        }),
      ],
      // A peer-CA certificate naming a member id that is not in the configuration.
      [
        'a certificate naming a non-member',
        pki.leaf('stranger', ca, {
          cn: 'alice',
          sans: ['IP:127.0.0.1', 'URI:urn:kvstore:member:stranger'],
        }),
      ],
    ] as const) {
      const r = await call(c.node(l).url, 'POST', '/v1/cluster/leader', as(cert, claim), { to: f });
      assert.equal(r.status, 401, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'unauthenticated', what);
    }
    assert.equal(await leader(), l, 'leadership did not move');
    // A member's own certificate may assert the user (what a forwarding follower does).
    const asMember = await call(c.node(l).url, 'GET', '/v1/cluster/members', as(memberCert(f), claim));
    assert.equal(asMember.status, 200, JSON.stringify(asMember.body));
    const asMemberAlice = await call(
      c.node(l).url,
      'POST',
      '/v1/cluster/leader',
      as(memberCert(f), { 'x-kvstore-forwarded-user': 'alice' }),
      { to: f },
    );
    assert.equal(asMemberAlice.status, 403, 'the asserted user, not the member, is authorized');
  });
});
