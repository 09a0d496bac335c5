// TLS on real node processes (issue 14): peer traffic is mutual TLS, the client API is HTTPS with
// client certificates; refusals at the handshake; a peer certificate naming another member is
// refused before anything reaches Raft; a client certificate's CN is the user; certificates and
// CA bundles are rotated by replacing files, under a running writer, without a restart.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { execFile } from 'node:child_process';
import { BIN, freePort, ProcCluster, sleep, waitFor } from './harness.ts';

import { TestPki, type IssuedFiles } from '../../node/src/security/test-certs.test-helper.ts';

interface Answer {
  status: number;
  body: any;
  /** Issuer CN of the server certificate this connection saw. */
  issuer: string;
}

interface ClientCreds {
  ca: string;
  cert?: IssuedFiles;
  token?: string;
}

function call(
  base: string,
  method: string,
  path: string,
  creds: ClientCreds,
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
      const issuer = (res.socket as TLSSocket).getPeerX509Certificate?.()?.issuer ?? '';
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
        resolve({ status: res.statusCode ?? 0, body: parsed, issuer });
      });
    });
    req.end(body !== undefined ? JSON.stringify(body) : undefined);
  });
}

/** An upgrade request for a peer stream; resolves with the HTTP status (101 if upgraded). */
function peerStream(
  port: number,
  headers: Record<string, string>,
  tls: { ca: string; cert?: IssuedFiles } | null,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const common = {
      hostname: '127.0.0.1',
      port,
      path: '/raft/v1/stream',
      method: 'GET',
      agent: false as const,
      timeout: 5000,
      headers: { Connection: 'Upgrade', Upgrade: 'kvstore-raft', ...headers },
    };
    const req = tls
      ? https.request({
          ...common,
          ca: readFileSync(tls.ca),
          ...(tls.cert ? { cert: readFileSync(tls.cert.cert), key: readFileSync(tls.cert.key) } : {}),
        })
      : http.request(common);
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.once('upgrade', (_res, socket) => {
      socket.destroy();
      resolve({ status: 101, body: '' });
    });
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.end();
  });
}

describe('TLS on a real cluster', () => {
  const pki = new TestPki();
  const ca1 = pki.ca('ca1');
  const caOther = pki.ca('ca-other');
  const ca2 = pki.ca('ca2');
  const ids = ['t1', 't2', 't3'];
  const member = (id: string, ca: IssuedFiles, suffix = ''): IssuedFiles =>
    pki.leaf(`${id}${suffix}`, ca, { cn: id, sans: ['IP:127.0.0.1', `URI:urn:kvstore:member:${id}`] });
  const user = (name: string, ca: IssuedFiles, o: { expired?: boolean; file?: string } = {}): IssuedFiles =>
    pki.leaf(o.file ?? `user-${name}`, ca, { cn: name, sans: [], ...(o.expired ? { expired: true } : {}) });
  const root = user('root', ca1);
  const alice = user('alice', ca1);
  const otherCa = user('root', caOther, { file: 'other-root' });
  const expired = user('root', ca1, { expired: true, file: 'expired-root' });
  const intruder = pki.leaf('intruder', ca1, {
    cn: 'intruder',
    sans: ['IP:127.0.0.1', 'URI:urn:kvstore:member:intruder'],
  });
  const bundle1 = pki.bundle('bundle1', [ca1]);
  const bundleBoth = pki.bundle('bundle-both', [ca1, ca2]);
  let c: ProcCluster;
  const peerPorts = new Map<string, number>();
  /** Each member's own copies of its files, replaced in place for the rotation. */
  const files = (id: string, what: 'cert' | 'key' | 'ca'): string => join(pki.dir, `${id}-live.${what}`);
  const url = (id: string): string => c.node(id).url;
  /** What clients trust: the first CA, both once the rotation test has moved t1 to the second. */
  let trust = bundle1;
  const as = (cert: IssuedFiles, ca = trust): ClientCreds => ({ ca, cert });

  before(async () => {
    c = new ProcCluster({ KVSTORE_TLS_POLL_MS: '200' });
    const ports = new Map<string, number>();
    for (const id of ids) {
      ports.set(id, await freePort());
      peerPorts.set(id, await freePort());
      const m = member(id, ca1);
      copyFileSync(m.cert, files(id, 'cert'));
      copyFileSync(m.key, files(id, 'key'));
      copyFileSync(bundle1, files(id, 'ca'));
    }
    for (const id of ids) {
      const peers = ids
        .filter((p) => p !== id)
        .map((p) => `${p}=127.0.0.1:${peerPorts.get(p)}`)
        .join(',');
      const n = c.define(id, ports.get(id)!, [
        '-addr',
        `127.0.0.1:${ports.get(id)}`,
        '-peer-addr',
        `127.0.0.1:${peerPorts.get(id)}`,
        '-peers',
        peers,
        '-cert-file',
        files(id, 'cert'),
        '-key-file',
        files(id, 'key'),
        '-trusted-ca-file',
        files(id, 'ca'),
        '-client-cert-auth',
        '-peer-cert-file',
        join(pki.dir, `${id}.crt`),
        '-peer-key-file',
        join(pki.dir, `${id}.key`),
        '-peer-trusted-ca-file',
        bundle1,
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
        seen.add(String((await call(url(id), 'GET', '/v1/status', as(root))).body.leader));
      const [only] = [...seen];
      return seen.size === 1 && only !== 'null' ? only : undefined;
    });

  test('a 3-member cluster over peer mTLS and client TLS elects a leader and replicates writes', async () => {
    const l = await leader();
    const s = await call(url(l), 'GET', '/v1/status', as(root));
    assert.match(JSON.stringify(s.body), /https:\/\/127\.0\.0\.1/, 'advertised URLs are https');
    assert.equal((await call(url(l), 'PUT', '/v1/kv/greeting', as(root), { value: 'hello' })).status, 200);
    for (const id of ids) {
      const r = await call(url(id), 'GET', '/v1/kv/greeting', as(root));
      assert.equal(r.status, 200, id);
      assert.equal(r.body.value, 'hello', id);
    }
  });

  test('an admin request to a follower is forwarded to the leader over HTTPS', async () => {
    const l = await leader();
    const [f1, f2] = ids.filter((id) => id !== l) as [string, string];
    const r = await call(url(f1), 'POST', '/v1/cluster/leader', as(root), { to: f2 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await waitFor('the new leader', async () => (await leader()) === f2);
  });

  test('client port: no certificate, another CA, an expired certificate, plain HTTP are refused', async () => {
    const id = 't1';
    await assert.rejects(call(url(id), 'GET', '/v1/kv/greeting', { ca: bundle1 }), 'no client certificate');
    await assert.rejects(call(url(id), 'GET', '/v1/kv/greeting', as(otherCa)), 'another CA');
    await assert.rejects(call(url(id), 'GET', '/v1/kv/greeting', as(expired)), 'expired');
    await assert.rejects(
      fetch(`http://127.0.0.1:${c.node(id).port}/v1/kv/greeting`, { signal: AbortSignal.timeout(5000) }),
      'plain HTTP',
    );
    // The server's own certificate is checked by clients too: trusting only another CA fails.
    await assert.rejects(call(url(id), 'GET', '/v1/kv/greeting', { ca: caOther.cert, cert: root }));
  });

  test('peer port: no certificate, another CA, plain HTTP are refused at the handshake', async () => {
    const port = peerPorts.get('t1')!;
    const claim = { 'x-raft-from': 't2', 'x-raft-to': 't1', 'x-raft-version': '1', 'x-raft-stream': 'msg' };
    await assert.rejects(peerStream(port, claim, { ca: bundle1 }), 'no certificate');
    await assert.rejects(peerStream(port, claim, { ca: bundle1, cert: member('t2', caOther, '-other') }));
    await assert.rejects(peerStream(port, claim, null), 'plain HTTP');
  });

  test('a peer certificate from the right CA that names another member is refused, nothing applied', async () => {
    const metric = async (id: string): Promise<number> => {
      const text = (await call(url(id), 'GET', '/metrics', as(root))).body as string;
      const m = /kvstore_peer_messages_rejected_total\{reason="peer-identity"\} (\d+)/.exec(text);
      return m ? Number(m[1]) : 0;
    };
    const before = await metric('t1');
    const claim = { 'x-raft-from': 't2', 'x-raft-to': 't1', 'x-raft-version': '1', 'x-raft-stream': 'msg' };
    const r = await peerStream(peerPorts.get('t1')!, claim, { ca: bundle1, cert: intruder });
    assert.equal(r.status, 403, r.body);
    assert.match(r.body, /does not name member/);
    // A client certificate (no member URI, no host SAN) cannot claim a member either.
    const r2 = await peerStream(peerPorts.get('t1')!, claim, { ca: bundle1, cert: alice });
    assert.equal(r2.status, 403, r2.body);
    assert.equal(await metric('t1'), before + 2);
    // The right member's certificate is accepted (the control: the refusals were about identity).
    const ok = await peerStream(peerPorts.get('t1')!, claim, {
      ca: bundle1,
      cert: member('t2', ca1, '-again'),
    });
    assert.equal(ok.status, 101);
  });

  test('rotation: a new server certificate and CA bundle are taken under a running writer, no failure', async () => {
    const id = 't1';
    const clientTrust = bundleBoth; // clients trust old and new CA during the rotation
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          const r = await call(url(id), 'PUT', `/v1/kv/rot-${i % 5}`, as(root, clientTrust), {
            value: String(i),
          });
          if (r.status === 200) ok++;
          else failures.push(`${r.status} ${JSON.stringify(r.body)}`);
        } catch (e) {
          failures.push(String(e));
        }
      }
    })();
    try {
      await rotate();
    } finally {
      stop = true; // a failed rotation must not leave the writer running
      await writer;
    }
    trust = bundleBoth;
    assert.deepEqual(failures, []);
    assert.ok(ok > 10, `writes during the rotation: ${ok}`);
  });

  async function rotate(): Promise<void> {
    const id = 't1';
    const clientTrust = bundleBoth;
    await sleep(500);
    // The bundle first (old and new CA), then the certificate and key from the new CA.
    const tmp = (p: string): string => `${p}.tmp`;
    writeFileSync(tmp(files(id, 'ca')), readFileSync(bundleBoth));
    renameSync(tmp(files(id, 'ca')), files(id, 'ca'));
    await sleep(500);
    const next = member(id, ca2, '-ca2');
    copyFileSync(next.cert, tmp(files(id, 'cert')));
    copyFileSync(next.key, tmp(files(id, 'key')));
    renameSync(tmp(files(id, 'key')), files(id, 'key'));
    renameSync(tmp(files(id, 'cert')), files(id, 'cert'));
    await waitFor('a new connection to see the new certificate', async () =>
      (await call(url(id), 'GET', '/livez', as(root, clientTrust))).issuer.includes('CN=ca2'),
    );
    // A client certificate from the new CA is now accepted too (the bundle was reloaded).
    const newClient = user('root', ca2, { file: 'root-ca2' });
    assert.equal((await call(url(id), 'GET', '/v1/kv/greeting', as(newClient, clientTrust))).status, 200);
    await sleep(500);
  }

  test('with auth on, a client certificate whose CN is a user acts as that user without a token', async () => {
    const l = await leader();
    const post = (path: string, body: unknown): Promise<Answer> => call(url(l), 'POST', path, as(root), body);
    assert.equal((await post('/v1/auth/users', { name: 'root', password: 'root-password' })).status, 201);
    assert.equal((await post('/v1/auth/users/root/roles', { role: 'root' })).status, 200);
    assert.equal((await post('/v1/auth/users', { name: 'alice', password: 'alice-password' })).status, 201);
    const role = { name: 'apps', permissions: [{ prefix: 'apps/', access: 'readwrite' }] };
    assert.equal((await post('/v1/auth/roles', role)).status, 201);
    assert.equal((await post('/v1/auth/users/alice/roles', { role: 'apps' })).status, 200);
    assert.equal((await post('/v1/auth/enable', {})).status, 200);
    for (const id of ids) {
      await waitFor(`auth on at ${id}`, async () => {
        const r = await call(
          url(id),
          'PUT',
          '/v1/kv/apps/x',
          as(user('nobody', ca1, { file: `nobody-${id}` })),
          {
            value: '1',
          },
        );
        return r.status === 401 || r.status === 403;
      });
      assert.equal((await call(url(id), 'PUT', '/v1/kv/apps/x', as(alice), { value: id })).status, 200, id);
      const denied = await call(url(id), 'PUT', '/v1/kv/other', as(alice), { value: id });
      assert.equal(denied.status, 403, id);
      assert.equal(denied.body.error.code, 'permission-denied');
      assert.equal(
        (await call(url(id), 'GET', '/v1/kv/greeting', as(root))).status,
        200,
        `${id}: root by CN`,
      );
    }
  });
});

describe('TLS files at start', () => {
  const pki = new TestPki();
  after(() => pki.cleanup());
  const run = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [BIN, '-id', 'x', '-data-dir', join(pki.dir, 'data'), ...args],
        (err, _o, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      );
    });

  test('an unreadable or invalid certificate file: exit 1 with one line naming the file', async () => {
    const ca = pki.ca('ca');
    const good = pki.leaf('n', ca, { sans: ['IP:127.0.0.1'] });
    const port = String(await freePort());
    const missing = join(pki.dir, 'missing.crt');
    let r = await run(['-addr', `127.0.0.1:${port}`, '-cert-file', missing, '-key-file', good.key]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^kv-store: cannot read the certificate .*missing\.crt: ENOENT\n$/);
    const garbage = join(pki.dir, 'garbage.crt');
    writeFileSync(garbage, 'not a certificate');
    r = await run(['-addr', `127.0.0.1:${port}`, '-cert-file', garbage, '-key-file', good.key]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^kv-store: the certificate .*garbage\.crt does not parse: [^\n]*\n$/);
    r = await run(['-addr', `127.0.0.1:${port}`, '-cert-file', good.cert]);
    assert.equal(r.code, 2, 'a flag rule is exit 2');
    assert.match(r.stderr, /-cert-file and -key-file must be given together/);
  });
});
