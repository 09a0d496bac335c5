import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { kvError } from '../errors.ts';
import { createLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { createApp } from './app.ts';
import { FakeKvService } from './fake-kv-service.ts';
import { startHttpServer, type RunningServer } from './server.ts';

const MAX_VALUE = 1024 * 1024;
let fake: FakeKvService;
let running: RunningServer;
let base: string;
const logLines: string[] = [];

// One server for the suite; the fake is swapped per test through this indirection.
before(async () => {
  fake = new FakeKvService();
  const proxy = new Proxy({} as FakeKvService, {
    get: (_t, prop) => {
      const v = (fake as unknown as Record<PropertyKey, unknown>)[prop];
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(fake) : v;
    },
  });
  const app = createApp(proxy, {
    metrics: createMetrics({ defaultMetrics: false }),
    logger: createLogger({ level: 'debug', write: (l) => logLines.push(l) }),
    maxValueBytes: MAX_VALUE,
    maxKeyBytes: 4096,
  });
  running = await startHttpServer(app, '127.0.0.1:0', null);
  base = `http://127.0.0.1:${running.address.port}`;
});
after(async () => {
  await running.close(1000);
});
beforeEach(() => {
  fake = new FakeKvService();
});

interface Res {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

async function req(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Res> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Raw request, for paths fetch would normalise or reject. */
function rawReq(
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: any; index: string | undefined }> {
  return new Promise((resolve, reject) => {
    const r = http.request(
      `${base}${path}`,
      { method, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const index = res.headers['x-kv-index'];
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(text),
            index: Array.isArray(index) ? index[0] : index,
          });
        });
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

function assertError(res: { status: number; body: any }, status: number, code: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.deepEqual(Object.keys(res.body), ['error']);
  assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'message']);
  assert.equal(res.body.error.code, code);
  assert.equal(typeof res.body.error.message, 'string');
  assert.ok(res.body.error.message.length > 0);
}

void describe('KV API', () => {
  void test('the seed curl example, then GET and DELETE', async () => {
    const put = await req('PUT', '/v1/kv/mykey', '{"value": "myvalue", "ttl": "5s"}');
    assert.equal(put.status, 200);
    assert.equal(put.body.key, 'mykey');
    assert.equal(put.body.value, 'myvalue');
    assert.equal(put.body.ttl, '5s');
    assert.equal(typeof put.body.expiresAt, 'number');
    assert.equal(put.body.version, 1);
    assert.equal(put.headers.get('x-kv-index'), '1');
    assert.deepEqual(fake.calls[0], {
      method: 'put',
      args: ['mykey', 'myvalue', { ttl: '5s', ttlMs: 5000, caller: null }],
    });

    const get = await req('GET', '/v1/kv/mykey');
    assert.equal(get.status, 200);
    assert.deepEqual(
      {
        key: get.body.key,
        value: get.body.value,
        createIndex: get.body.createIndex,
        modifyIndex: get.body.modifyIndex,
      },
      { key: 'mykey', value: 'myvalue', createIndex: 1, modifyIndex: 1 },
    );
    assert.equal(get.headers.get('x-kv-index'), '1');
    assert.deepEqual(fake.calls[1]!.args[1], { consistency: 'linearizable' });

    const del = await req('DELETE', '/v1/kv/mykey');
    assert.equal(del.status, 200);
    assert.deepEqual(del.body, { deleted: true });
    assert.equal(del.headers.get('x-kv-index'), '2');
    assert.deepEqual((await req('DELETE', '/v1/kv/mykey')).body, { deleted: false });
    const gone = await req('GET', '/v1/kv/mykey');
    assertError(gone, 404, 'key-not-found');
    assert.equal(gone.headers.get('x-kv-index'), '2');
  });

  void test('PUT without ttl never expires; stale reads pass consistency through', async () => {
    const put = await req('PUT', '/v1/kv/k', { value: '' });
    assert.equal(put.status, 200);
    assert.equal(put.body.ttl, undefined);
    assert.equal(put.body.expiresAt, undefined);
    assert.deepEqual(
      fake.calls[0]!.args[2],
      { caller: null },
      'no ttl, no cas; the caller goes with every write',
    );
    await req('GET', '/v1/kv/k?consistency=stale');
    assert.deepEqual(fake.calls[1]!.args[1], { consistency: 'stale' });
  });

  void test('keys keep slashes and unicode, and are percent-decoded once', async () => {
    const cases: [string, string][] = [
      ['/v1/kv/a/b/c', 'a/b/c'],
      ['/v1/kv/dir%2Fkey', 'dir/key'],
      ['/v1/kv/%E2%9C%93/caf%C3%A9', '✓/café'],
      ['/v1/kv/a%20b%3Fc%23d', 'a b?c#d'],
      ['/v1/kv/%2525', '%25'],
      ['/v1/kv/trailing/', 'trailing/'],
    ];
    for (const [path, key] of cases) {
      const res = await req('PUT', path, { value: key });
      assert.equal(res.status, 200, path);
      assert.equal(res.body.key, key, path);
    }
    assert.deepEqual(
      [...fake.store.keys()],
      cases.map(([, k]) => k),
    );
    assert.equal((await req('GET', '/v1/kv/%E2%9C%93/caf%C3%A9')).body.value, '✓/café');
  });

  void test('a key of exactly 4096 bytes is accepted, 4097 is not', async () => {
    assert.equal((await req('PUT', `/v1/kv/${'k'.repeat(4096)}`, { value: 'v' })).status, 200);
    const tooLong = await req('PUT', `/v1/kv/${'k'.repeat(4095)}%C3%A9`, { value: 'v' });
    assertError(tooLong, 400, 'key-too-large');
    assert.equal(fake.calls.length, 1);
  });

  const badRequests: [string, string, string, unknown, number, string][] = [
    ['body not JSON', 'PUT', '/v1/kv/k', '{"value": ', 400, 'invalid-body'],
    ['body an array', 'PUT', '/v1/kv/k', '["v"]', 400, 'invalid-body'],
    ['body a string', 'PUT', '/v1/kv/k', '"v"', 400, 'invalid-body'],
    ['empty body', 'PUT', '/v1/kv/k', '', 400, 'invalid-body'],
    ['value missing', 'PUT', '/v1/kv/k', { ttl: '5s' }, 400, 'invalid-body'],
    ['value a number', 'PUT', '/v1/kv/k', { value: 5 }, 400, 'invalid-body'],
    ['value null', 'PUT', '/v1/kv/k', { value: null }, 400, 'invalid-body'],
    ['unknown body field', 'PUT', '/v1/kv/k', { value: 'v', expire: 1 }, 400, 'invalid-body'],
    ['ttl malformed', 'PUT', '/v1/kv/k', { value: 'v', ttl: 'abc' }, 400, 'invalid-ttl'],
    ['ttl without unit', 'PUT', '/v1/kv/k', { value: 'v', ttl: '5' }, 400, 'invalid-ttl'],
    ['ttl negative', 'PUT', '/v1/kv/k', { value: 'v', ttl: '-1s' }, 400, 'invalid-ttl'],
    ['ttl zero', 'PUT', '/v1/kv/k', { value: 'v', ttl: '0s' }, 400, 'invalid-ttl'],
    ['ttl a number', 'PUT', '/v1/kv/k', { value: 'v', ttl: 5 }, 400, 'invalid-body'],
    ['cas negative', 'PUT', '/v1/kv/k?cas=-1', { value: 'v' }, 400, 'invalid-parameter'],
    ['cas not a number', 'PUT', '/v1/kv/k?cas=abc', { value: 'v' }, 400, 'invalid-parameter'],
    ['cas twice', 'PUT', '/v1/kv/k?cas=1&cas=2', { value: 'v' }, 400, 'invalid-parameter'],
    ['unknown parameter on PUT', 'PUT', '/v1/kv/k?flags=1', { value: 'v' }, 400, 'unknown-parameter'],
    ['GET-only parameter on PUT', 'PUT', '/v1/kv/k?recurse', { value: 'v' }, 400, 'unknown-parameter'],
    ['empty key on PUT', 'PUT', '/v1/kv/', { value: 'v' }, 400, 'invalid-key'],
    ['unknown parameter on GET', 'GET', '/v1/kv/k?raw', undefined, 400, 'unknown-parameter'],
    ['bad consistency', 'GET', '/v1/kv/k?consistency=strong', undefined, 400, 'invalid-parameter'],
    ['limit without recurse', 'GET', '/v1/kv/k?limit=5', undefined, 400, 'invalid-parameter'],
    ['limit zero', 'GET', '/v1/kv/k?recurse&limit=0', undefined, 400, 'invalid-parameter'],
    ['limit above max', 'GET', '/v1/kv/k?recurse&limit=10001', undefined, 400, 'invalid-parameter'],
    ['recurse=maybe', 'GET', '/v1/kv/k?recurse=maybe', undefined, 400, 'invalid-parameter'],
    ['separator without keys', 'GET', '/v1/kv/k?separator=/', undefined, 400, 'invalid-parameter'],
    ['wait without index', 'GET', '/v1/kv/k?wait=5s', undefined, 400, 'invalid-parameter'],
    ['wait malformed', 'GET', '/v1/kv/k?index=1&wait=soon', undefined, 400, 'invalid-parameter'],
    ['wait negative', 'GET', '/v1/kv/k?index=1&wait=-5s', undefined, 400, 'invalid-parameter'],
    ['index fractional', 'GET', '/v1/kv/k?index=1.5', undefined, 400, 'invalid-parameter'],
    ['empty key on GET', 'GET', '/v1/kv/', undefined, 400, 'invalid-key'],
    ['empty key on DELETE', 'DELETE', '/v1/kv/', undefined, 400, 'invalid-key'],
    ['recursive delete of everything', 'DELETE', '/v1/kv/?recurse', undefined, 400, 'invalid-key'],
    ['cas with recurse', 'DELETE', '/v1/kv/a?recurse&cas=3', undefined, 400, 'invalid-parameter'],
    ['unknown parameter on DELETE', 'DELETE', '/v1/kv/a?keys', undefined, 400, 'unknown-parameter'],
    ['invalid percent-encoding', 'GET', '/v1/kv/%E0%A4%A', undefined, 400, 'invalid-key'],
    ['percent-encoded invalid UTF-8', 'PUT', '/v1/kv/%FF', { value: 'v' }, 400, 'invalid-key'],
    ['POST on a key', 'POST', '/v1/kv/k', { value: 'v' }, 405, 'method-not-allowed'],
  ];
  for (const [name, method, path, body, status, code] of badRequests) {
    void test(`rejects ${name} with ${status} ${code} and changes nothing`, async () => {
      fake.store.set('k', { key: 'k', value: 'old', createIndex: 1, modifyIndex: 1, version: 1 });
      const res = await rawReq(
        method,
        path,
        body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      );
      assertError(res, status, code);
      assert.equal(res.index, '0', 'even errors carry X-KV-Index');
      assert.deepEqual(fake.calls, [], 'the service was never called');
      assert.equal(fake.store.get('k')!.value, 'old');
    });
  }

  void test('invalid UTF-8 in the body is rejected', async () => {
    const res = await req(
      'PUT',
      '/v1/kv/k',
      Buffer.from([0x7b, 0x22, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
    );
    assertError(res, 400, 'invalid-body');
    assert.deepEqual(fake.calls, []);
  });

  void test('HEAD answers like GET without a body', async () => {
    await req('PUT', '/v1/kv/h', { value: 'v' });
    const head = await fetch(`${base}/v1/kv/h`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('x-kv-index'), '1');
    assert.equal(await head.text(), '');
    assert.equal((await fetch(`${base}/v1/kv/missing`, { method: 'HEAD' })).status, 404);
  });

  void test('405 carries an Allow header', async () => {
    const res = await req('PATCH', '/v1/kv/k', { value: 'v' });
    assertError(res, 405, 'method-not-allowed');
    assert.match(res.headers.get('allow') ?? '', /PUT/);
  });

  void test('a value of exactly the limit is stored; one byte more is 413', async () => {
    const ok = await req('PUT', '/v1/kv/big', { value: 'x'.repeat(MAX_VALUE) });
    assert.equal(ok.status, 200);
    const tooBig = await req('PUT', '/v1/kv/big2', { value: 'é'.repeat(MAX_VALUE / 2) + 'x' });
    assertError(tooBig, 413, 'value-too-large');
    assert.deepEqual(
      fake.calls.map((c) => c.method),
      ['put'],
    );
    assert.equal(fake.store.has('big2'), false);
  });

  void test('a declared oversized body is refused before it is sent', async () => {
    const res = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const r = http.request(
        `${base}/v1/kv/huge`,
        { method: 'PUT', headers: { 'content-length': String(1 << 30) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            r.destroy();
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
          });
        },
      );
      r.on('error', reject);
      r.flushHeaders(); // headers only: the 1 GiB body is never written
    });
    assertError(res, 413, 'value-too-large');
    assert.deepEqual(fake.calls, []);
  });

  void test('a streamed (chunked) oversized body is cut off while reading', async () => {
    const total = 64 * 1024 * 1024;
    let written = 0;
    const res = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      let answered = false;
      const r = http.request(
        `${base}/v1/kv/huge`,
        { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } },
        (res) => {
          answered = true;
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        },
      );
      r.on('error', (err) => (answered ? undefined : reject(err)));
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = (): void => {
        while (!answered && written < total) {
          written += chunk.byteLength;
          if (!r.write(chunk)) {
            r.once('drain', pump);
            return;
          }
        }
        if (!answered) r.end();
      };
      r.write('{"value":"');
      pump();
    });
    assertError(res, 413, 'value-too-large');
    assert.ok(written < total, `the server answered before the whole body was sent (${written} of ${total})`);
    assert.deepEqual(fake.calls, []);
  });

  void test('cas: 0 creates only, a matching modifyIndex updates, a stale one is 412', async () => {
    assert.equal((await req('PUT', '/v1/kv/c?cas=0', { value: 'a' })).status, 200);
    assertError(await req('PUT', '/v1/kv/c?cas=0', { value: 'b' }), 412, 'cas-mismatch');
    const upd = await req('PUT', '/v1/kv/c?cas=1', { value: 'c' });
    assert.equal(upd.status, 200);
    assert.equal(upd.body.version, 2);
    assertError(await req('DELETE', '/v1/kv/c?cas=1'), 412, 'cas-mismatch');
    assert.deepEqual((await req('DELETE', '/v1/kv/c?cas=2')).body, { deleted: true });
    assert.deepEqual(
      fake.calls.map(
        (c) => (c.args[2] as { cas?: number } | undefined)?.cas ?? (c.args[1] as { cas?: number }).cas,
      ),
      [0, 0, 1, 1, 2],
    );
  });

  void test('recurse lists a prefix with a limit; keys with a separator', async () => {
    for (const k of ['app/a', 'app/b', 'app/sub/x', 'app/sub/y', 'other'])
      await req('PUT', `/v1/kv/${k}`, { value: k });
    const all = await req('GET', '/v1/kv/app/?recurse');
    assert.equal(all.status, 200);
    assert.deepEqual(
      all.body.items.map((i: { key: string }) => i.key),
      ['app/a', 'app/b', 'app/sub/x', 'app/sub/y'],
    );
    assert.equal(all.body.more, false);
    assert.equal(all.headers.get('x-kv-index'), '5');
    const page = await req('GET', '/v1/kv/app/?recurse&limit=2');
    assert.deepEqual(
      page.body.items.map((i: { key: string }) => i.key),
      ['app/a', 'app/b'],
    );
    assert.equal(page.body.more, true);
    const keys = await req('GET', '/v1/kv/app/?keys&separator=/');
    assert.deepEqual(keys.body, { items: ['app/a', 'app/b', 'app/sub/'], more: false });
    const everything = await req('GET', '/v1/kv/?keys');
    assert.equal(everything.body.items.length, 5);
    const last = fake.calls.at(-1)!;
    assert.deepEqual(last, {
      method: 'list',
      args: ['', { consistency: 'linearizable', limit: 1000, keysOnly: true }],
    });
    const del = await req('DELETE', '/v1/kv/app/sub/?recurse');
    assert.deepEqual(del.body, { deleted: true, count: 2 });
  });

  void test('blocking watch returns when the key changes past the index', async () => {
    await req('PUT', '/v1/kv/w', { value: 'one' });
    const pending = req('GET', '/v1/kv/w?index=1&wait=30s');
    // Let the watch register before the change.
    while (!fake.calls.some((c) => c.method === 'watch')) await new Promise((r) => setTimeout(r, 5));
    await req('PUT', '/v1/kv/w', { value: 'two' });
    const res = await pending;
    assert.equal(res.status, 200);
    assert.equal(res.body.value, 'two');
    assert.equal(res.headers.get('x-kv-index'), '2');
    const watchCall = fake.calls.find((c) => c.method === 'watch')!;
    assert.deepEqual(watchCall.args, ['w', { recurse: false, index: 1, waitMs: 30_000 }]);
  });

  void test('watch wait parsing: Go durations, default, and the cap', async () => {
    await req('PUT', '/v1/kv/w', { value: 'v' });
    const timedOut = await req('GET', '/v1/kv/w?index=5&wait=50ms');
    assert.equal(timedOut.status, 200);
    assert.equal(timedOut.body.value, 'v');
    await req('GET', '/v1/kv/w?index=0&wait=1.5h');
    await req('GET', '/v1/kv/w?index=0');
    await req('GET', '/v1/kv/w/?recurse&index=0&wait=2m30s');
    const waits = fake.calls.filter((c) => c.method === 'watch').map((c) => c.args[1]);
    assert.deepEqual(waits, [
      { recurse: false, index: 5, waitMs: 50 },
      { recurse: false, index: 0, waitMs: 600_000 },
      { recurse: false, index: 0, waitMs: 300_000 },
      { recurse: true, index: 0, waitMs: 150_000 },
    ]);
  });

  void test('a service error keeps its status, code and headers', async () => {
    fake.failNext = kvError('no-leader', 'no leader elected yet');
    const res = await req('PUT', '/v1/kv/x', { value: 'v' });
    assertError(res, 503, 'no-leader');
    assert.equal(res.headers.get('retry-after'), '1');
    fake.failNext = kvError('timeout', 'gave up after 5s; the write may still commit');
    assertError(await req('GET', '/v1/kv/x'), 504, 'timeout');
  });

  void test('an unexpected exception is a logged 500, and the server keeps serving', async () => {
    fake.failNext = new TypeError('bug in the driver');
    const res = await req('GET', '/v1/kv/x');
    assertError(res, 500, 'internal');
    assert.doesNotMatch(res.text, /bug in the driver/, 'internals are not leaked');
    assert.ok(logLines.some((l) => l.includes('bug in the driver') && l.includes('"level":"error"')));
    assert.equal((await req('PUT', '/v1/kv/x', { value: 'v' })).status, 200);
  });
});

void describe('admin and health API', () => {
  void test('status and members', async () => {
    const s = await req('GET', '/v1/status');
    assert.equal(s.status, 200);
    assert.equal(s.body.id, 'node1');
    assert.equal(s.body.state, 'leader');
    assert.ok(Array.isArray(s.body.members));
    assert.equal(s.headers.get('x-kv-index'), '0');
    const m = await req('GET', '/v1/cluster/members');
    assert.deepEqual(m.body.leader, 'node1');
    assert.equal(m.body.members[0].id, 'node1');
    assertError(await req('GET', '/v1/status?verbose'), 400, 'unknown-parameter');
  });

  void test('add (201, learner by default), promote, remove, transfer', async () => {
    const add = await req('POST', '/v1/cluster/members', { id: 'node4', peerUrl: 'http://10.0.0.4:8080/' });
    assert.equal(add.status, 201);
    assert.deepEqual(fake.calls[0], {
      method: 'addMember',
      args: [{ id: 'node4', peerUrl: 'http://10.0.0.4:8080', role: 'learner' }],
    });
    assert.equal(add.body.role, 'learner');
    assertError(
      await req('POST', '/v1/cluster/members', { id: 'node4', peerUrl: 'http://h:1' }),
      409,
      'member-exists',
    );
    const promote = await req('POST', '/v1/cluster/members/node4/promote');
    assert.deepEqual(promote.body, { id: 'node4', role: 'voter' });
    fake.failNext = kvError('learner-not-caught-up', 'behind by 5000 entries');
    assertError(await req('POST', '/v1/cluster/members/node4/promote'), 409, 'learner-not-caught-up');
    assert.deepEqual((await req('DELETE', '/v1/cluster/members/node4')).body, { id: 'node4', removed: true });
    assertError(await req('DELETE', '/v1/cluster/members/node4'), 404, 'member-not-found');
    fake.failNext = kvError('would-lose-quorum', 'only 1 of 3 voters healthy');
    assertError(await req('DELETE', '/v1/cluster/members/node1'), 409, 'would-lose-quorum');
    assert.deepEqual((await req('POST', '/v1/cluster/leader', { to: 'node3' })).body, { leader: 'node3' });
    assert.deepEqual((await req('POST', '/v1/cluster/leader')).body, { leader: 'node2' });
    assert.deepEqual(
      fake.calls.filter((c) => c.method === 'transferLeadership').map((c) => c.args[0]),
      ['node3', undefined],
    );
  });

  const badAdmin: [string, string, string, unknown, number, string][] = [
    ['member without id', 'POST', '/v1/cluster/members', { peerUrl: 'http://h:1' }, 400, 'invalid-body'],
    [
      'member bad id',
      'POST',
      '/v1/cluster/members',
      { id: 'a b', peerUrl: 'http://h:1' },
      400,
      'invalid-parameter',
    ],
    ['member without peerUrl', 'POST', '/v1/cluster/members', { id: 'n4' }, 400, 'invalid-body'],
    [
      // https is a member with TLS (issue 14); any other scheme is refused
      'member ftp peerUrl',
      'POST',
      '/v1/cluster/members',
      { id: 'n4', peerUrl: 'ftp://h:1' },
      400,
      'invalid-body',
    ],
    [
      'member peerUrl without port',
      'POST',
      '/v1/cluster/members',
      { id: 'n4', peerUrl: 'http://h' },
      400,
      'invalid-body',
    ],
    [
      'member peerUrl with path',
      'POST',
      '/v1/cluster/members',
      { id: 'n4', peerUrl: 'http://h:1/x' },
      400,
      'invalid-body',
    ],
    [
      'member bad role',
      'POST',
      '/v1/cluster/members',
      { id: 'n4', peerUrl: 'http://h:1', role: 'boss' },
      400,
      'invalid-body',
    ],
    [
      'member unknown field',
      'POST',
      '/v1/cluster/members',
      { id: 'n4', peerUrl: 'http://h:1', x: 1 },
      400,
      'invalid-body',
    ],
    ['leader bad target', 'POST', '/v1/cluster/leader', { to: '../x' }, 400, 'invalid-parameter'],
    ['leader target a number', 'POST', '/v1/cluster/leader', { to: 3 }, 400, 'invalid-body'],
    ['promote bad id', 'POST', '/v1/cluster/members/a%20b/promote', undefined, 400, 'invalid-parameter'],
    ['GET on leader', 'GET', '/v1/cluster/leader', undefined, 405, 'method-not-allowed'],
    ['PUT on status', 'PUT', '/v1/status', undefined, 405, 'method-not-allowed'],
    ['unknown path', 'GET', '/v2/kv/x', undefined, 404, 'not-found'],
    ['root', 'GET', '/', undefined, 404, 'not-found'],
  ];
  for (const [name, method, path, body, status, code] of badAdmin) {
    void test(`rejects ${name} with ${status} ${code}`, async () => {
      const res = await req(method, path, body);
      assertError(res, status, code);
      assert.deepEqual(fake.calls, []);
    });
  }

  void test('livez and readyz', async () => {
    assert.equal((await req('GET', '/livez')).status, 200);
    const ready = await req('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.body.ready, true);
    fake.ready = false;
    const notReady = await req('GET', '/readyz');
    assert.equal(notReady.status, 503);
    assert.deepEqual(notReady.body.checks, [{ name: 'leader', ok: false, message: 'no leader' }]);
    assert.equal(notReady.body.ready, false);
    assert.equal(notReady.body.error.code, 'unavailable');
    assert.match(notReady.body.error.message, /leader: no leader/);
    assert.equal(notReady.headers.get('retry-after'), '1');
    fake.live = false;
    const dead = await req('GET', '/livez');
    assertError(dead, 503, 'unavailable');
    assert.equal(dead.headers.get('retry-after'), '1');
  });

  void test('metrics expose HTTP durations by route template', async () => {
    await req('GET', '/v1/kv/some/deep/key');
    await req('GET', '/v1/cluster/members/');
    const res = await fetch(`${base}/metrics`);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.match(
      text,
      /kvstore_http_request_duration_seconds_count\{route="\/v1\/kv\/\{key\}",method="GET",code="404"\} [1-9]/,
    );
    assert.match(
      text,
      /kvstore_http_request_duration_seconds_count\{route="\/v1\/status",method="GET",code="200"\}/,
    );
    assert.doesNotMatch(text, /some\/deep\/key/, 'keys never become label values');
  });
});
