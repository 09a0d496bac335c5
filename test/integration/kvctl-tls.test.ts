// kvctl against a member serving HTTPS with auth on (the operator's default, ADR 0069): --cacert
// verifies the member, --user logs in for a token, snapshot save streams over TLS. Run through
// `kv-store kvctl` (how the operator's init steps run it from the node image).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, freePort, ProcCluster, waitFor } from './harness.ts';
import { TestPki } from '../../node/src/security/test-certs.test-helper.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kvctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, 'kvctl', ...args], {
      env: { ...process.env, KVCTL_ENDPOINTS: '', KVCTL_TOKEN: '', KVCTL_PASSWORD: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`kvctl ${args.join(' ')} hung; stderr: ${stderr}`));
    }, 30_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function call(url: string, ca: string, method: string, path: string, body?: unknown, token?: string) {
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = https.request(new URL(path, url), {
      method,
      agent: false,
      ca: readFileSync(ca),
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('kvctl over TLS with auth', () => {
  const pki = new TestPki();
  const ca = pki.ca('ca');
  const other = pki.ca('other');
  const bundle = pki.bundle('bundle', [ca]);
  const otherBundle = pki.bundle('other-bundle', [other]);
  let c: ProcCluster;
  let url = '';
  const work = mkdtempSync(join(tmpdir(), 'kvctl-tls-'));

  before(async () => {
    c = new ProcCluster();
    const port = await freePort();
    const m = pki.leaf('k1', ca, { cn: 'k1', sans: ['IP:127.0.0.1', 'URI:urn:kvstore:member:k1'] });
    const n = c.define('k1', port, ['-addr', `127.0.0.1:${port}`, '-cert-file', m.cert, '-key-file', m.key]);
    url = n.url = `https://127.0.0.1:${port}`;
    c.spawn('k1');
    await waitFor('the member to lead', async () => {
      const s = await call(url, bundle, 'GET', '/v1/status').catch(() => null);
      return s?.body?.state === 'leader' ? true : undefined;
    });
    assert.equal(
      (await call(url, bundle, 'POST', '/v1/auth/users', { name: 'root', password: 'root-pw-1' })).status,
      201,
    );
    assert.equal(
      (await call(url, bundle, 'POST', '/v1/auth/users/root/roles', { role: 'root' })).status,
      200,
    );
    assert.equal((await call(url, bundle, 'POST', '/v1/auth/enable')).status, 200);
  });
  after(async () => {
    await c.close();
    pki.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  test('--cacert and --user: put, get and status; a token from --token works too', async () => {
    const base = ['--endpoints', url, '--cacert', bundle];
    const put = await kvctl([...base, '--user', 'root:root-pw-1', 'put', 'greeting', 'hello']);
    assert.equal(put.code, 0, put.stderr);
    const get = await kvctl([...base, '--user', 'root', 'get', 'greeting'], { KVCTL_PASSWORD: 'root-pw-1' });
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, 'hello\n');
    const login = await call(url, bundle, 'POST', '/v1/auth/token', { name: 'root', password: 'root-pw-1' });
    const st = await kvctl([...base, '--token', login.body.token as string, 'status', '-o', 'json']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /"state": ?"leader"/);
  });

  test('refusals: no credentials, a wrong password, a CA that did not sign the member', async () => {
    const none = await kvctl(['--endpoints', url, '--cacert', bundle, 'get', 'greeting']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /unauthenticated/);
    const wrong = await kvctl([
      '--endpoints',
      url,
      '--cacert',
      bundle,
      '--user',
      'root:nope',
      'get',
      'greeting',
    ]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /unauthenticated/);
    const untrusted = await kvctl([
      '--endpoints',
      url,
      '--cacert',
      otherBundle,
      '--timeout',
      '2s',
      '--user',
      'root:root-pw-1',
      'get',
      'greeting',
    ]);
    assert.equal(untrusted.code, 3, untrusted.stderr);
    assert.match(untrusted.stderr, /certificate/i);
  });

  test('snapshot save streams over TLS as root and verifies the file', async () => {
    const file = join(work, 'snap.kvbackup');
    const r = await kvctl([
      '--endpoints',
      url,
      '--cacert',
      bundle,
      '--user',
      'root:root-pw-1',
      'snapshot',
      'save',
      file,
      '-o',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const meta = JSON.parse(r.stdout) as { keys: number; index: number };
    assert.ok(meta.keys >= 1 && meta.index > 0, r.stdout);
    const status = await kvctl(['snapshot', 'status', file, '-o', 'json']);
    assert.equal(status.code, 0, status.stderr);
    const denied = await kvctl(['--endpoints', url, '--cacert', bundle, 'snapshot', 'save', join(work, 'x')]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /unauthenticated/);
  });
});
