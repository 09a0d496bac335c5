import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { Client, kvPath, queryString } from './client.ts';
import { ServerError, UnreachableError } from './errors.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Fake {
  url: string;
  requests: { method: string; url: string; body: string }[];
  handler: Handler;
  server: Server;
}

const fakes: Fake[] = [];

async function fake(handler: Handler): Promise<Fake> {
  const f: Fake = { url: '', requests: [], handler, server: createServer() };
  f.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      f.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        body: Buffer.concat(chunks).toString(),
      });
      f.handler(req, res);
    });
  });
  await new Promise<void>((r) => f.server.listen(0, '127.0.0.1', r));
  f.url = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
  fakes.push(f);
  return f;
}

async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

const reply =
  (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-kv-index': '42', ...headers });
    res.end(JSON.stringify(body));
  };

const error = (code: string, message = code) => ({ error: { code, message } });

after(async () => {
  for (const f of fakes) {
    f.server.closeAllConnections();
    await new Promise<void>((r) => f.server.close(() => r()));
  }
});

void describe('kvctl key paths', () => {
  void test('keys are percent-encoded per segment, / kept, dot segments encoded', () => {
    assert.equal(kvPath('plain'), '/v1/kv/plain');
    assert.equal(kvPath('a/b/c'), '/v1/kv/a/b/c');
    assert.equal(kvPath('with space'), '/v1/kv/with%20space');
    assert.equal(kvPath('100%'), '/v1/kv/100%25');
    assert.equal(kvPath('what?#x'), '/v1/kv/what%3F%23x');
    assert.equal(kvPath('ключ/ü'), '/v1/kv/%D0%BA%D0%BB%D1%8E%D1%87/%C3%BC');
    assert.equal(kvPath('a/../b/./c'), '/v1/kv/a/%2E%2E/b/%2E/c');
    assert.equal(kvPath('/lead//double/'), '/v1/kv//lead//double/');
    assert.equal(kvPath(''), '/v1/kv/');
  });

  void test('the server (one decodeURIComponent of the raw tail) gets the key back', () => {
    for (const key of [
      'a b',
      'x/y',
      '%2F',
      '?=&',
      '日本/語',
      '😀',
      '..',
      'a/./b',
      '+plus+',
      "it's",
      'back\\slash',
      'tab\there',
    ]) {
      assert.equal(decodeURIComponent(kvPath(key).slice('/v1/kv/'.length)), key, key);
    }
  });

  void test('query strings: bare flags, encoded values, undefined left out', () => {
    assert.equal(
      queryString({ recurse: true, limit: 5, cas: undefined, wait: '1m30s' }),
      '?recurse&limit=5&wait=1m30s',
    );
    assert.equal(queryString({ consistency: undefined }), '');
    assert.equal(queryString(undefined), '');
  });
});

void describe('kvctl client failover', () => {
  void test('a refused connection moves on to the next endpoint, which is then tried first', async () => {
    const down = await closedPort();
    const up = await fake(reply(200, { key: 'k' }));
    const c = new Client({ endpoints: [down, up.url], timeoutMs: 2000, requestTimeoutMs: 1000 });
    const r = await c.request({ method: 'PUT', path: '/v1/kv/k', body: { value: 'v' } });
    assert.equal(r.endpoint, up.url);
    assert.equal(r.index, 42);
    assert.deepEqual(r.body, { key: 'k' });
    assert.deepEqual(up.requests, [{ method: 'PUT', url: '/v1/kv/k', body: '{"value":"v"}' }]);
    await c.request({ method: 'GET', path: '/v1/kv/k' });
    assert.equal(up.requests.length, 2);
  });

  void test('503 no-leader moves on; a 4xx answer does not', async () => {
    const noLeader = await fake(reply(503, error('no-leader'), { 'retry-after': '1' }));
    const cas = await fake(reply(412, error('cas-mismatch', 'modifyIndex is 7, not 3')));
    const spare = await fake(reply(200, {}));
    const c = new Client({
      endpoints: [noLeader.url, cas.url, spare.url],
      timeoutMs: 2000,
      requestTimeoutMs: 1000,
    });
    await assert.rejects(
      c.request({ method: 'PUT', path: '/v1/kv/k', query: { cas: 3 }, body: { value: 'v' } }),
      (e) => {
        assert.ok(e instanceof ServerError);
        assert.equal(e.code, 'cas-mismatch');
        assert.equal(e.message, 'modifyIndex is 7, not 3');
        assert.equal(e.exitCode, 1);
        assert.equal(e.status, 412);
        return true;
      },
    );
    assert.equal(noLeader.requests.length, 1);
    assert.equal(cas.requests[0]!.url, '/v1/kv/k?cas=3');
    assert.equal(spare.requests.length, 0);
  });

  void test('no leader anywhere until the timeout: the last server error, exit 1', async () => {
    const a = await fake(reply(503, error('no-leader', 'no leader known'), { 'retry-after': '1' }));
    const b = await fake(reply(503, error('no-leader', 'no leader known')));
    const started = Date.now();
    const c = new Client({ endpoints: [a.url, b.url], timeoutMs: 400, requestTimeoutMs: 200 });
    await assert.rejects(
      c.request({ method: 'GET', path: '/v1/kv/k' }),
      (e) => e instanceof ServerError && e.code === 'no-leader',
    );
    const took = Date.now() - started;
    assert.ok(took >= 350 && took < 1500, `took ${took} ms`);
    assert.ok(a.requests.length >= 1 && b.requests.length >= 1);
  });

  void test('nothing reachable: UnreachableError (exit 3) naming every endpoint', async () => {
    const x = await closedPort();
    const y = await closedPort();
    const c = new Client({ endpoints: [x, y], timeoutMs: 300, requestTimeoutMs: 100 });
    await assert.rejects(c.request({ method: 'GET', path: '/v1/status' }), (e) => {
      assert.ok(e instanceof UnreachableError);
      assert.equal(e.exitCode, 3);
      assert.match(e.message, /no endpoint answered within 300ms/);
      assert.ok(
        e.message.includes(`${x}: connection refused`) && e.message.includes(`${y}: connection refused`),
        e.message,
      );
      return true;
    });
  });

  void test('a write whose connection broke after it was sent is not repeated elsewhere', async () => {
    const breaks = await fake((req) => req.socket.destroy());
    const spare = await fake(reply(200, {}));
    const c = new Client({ endpoints: [breaks.url, spare.url], timeoutMs: 2000, requestTimeoutMs: 1000 });
    await assert.rejects(
      c.request({ method: 'DELETE', path: '/v1/kv/k' }),
      (e) => e instanceof UnreachableError && /may or may not have been applied/.test(e.message),
    );
    assert.equal(spare.requests.length, 0);
    // A read is repeated.
    const r = await c.request({ method: 'GET', path: '/v1/kv/k' });
    assert.equal(r.endpoint, spare.url);
  });

  void test('a hung endpoint costs one request timeout, then the next answers', async () => {
    const hung = await fake(() => {
      /* never answers */
    });
    const up = await fake(reply(200, { ok: true }));
    const c = new Client({ endpoints: [hung.url, up.url], timeoutMs: 3000, requestTimeoutMs: 200 });
    const started = Date.now();
    const r = await c.request({ method: 'GET', path: '/v1/status' });
    assert.equal(r.endpoint, up.url);
    assert.ok(Date.now() - started >= 190);
  });

  void test('requestOne: no failover, errors as they are', async () => {
    const down = await closedPort();
    const c = new Client({ endpoints: [down], timeoutMs: 1000, requestTimeoutMs: 500 });
    await assert.rejects(c.requestOne(down, { method: 'GET', path: '/v1/status' }), UnreachableError);
    const bad = await fake((_req, res) => {
      res.writeHead(502);
      res.end('bad gateway');
    });
    await assert.rejects(c.requestOne(bad.url, { method: 'GET', path: '/v1/status' }), (e) => {
      assert.ok(e instanceof ServerError);
      assert.equal(e.code, 'http-502');
      assert.match(e.message, /answered 502: bad gateway/);
      return true;
    });
  });
});
