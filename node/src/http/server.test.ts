import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { nullLogger } from '../logger.ts';
import { createMetrics } from '../metrics.ts';
import { emptyMessage, MessageType, type Message } from '../raft/types.ts';
import { PeerTransport } from '../transport/peer-transport.ts';
import { createApp } from './app.ts';
import { FakeKvService } from './fake-kv-service.ts';
import { startHttpServer, startPeerServer } from './server.ts';

function newApp(fake: FakeKvService) {
  return createApp(fake, { metrics: createMetrics({ defaultMetrics: false }), logger: nullLogger() });
}

function transport(id: string, onMessages: (m: Message[]) => void): PeerTransport {
  return new PeerTransport({
    selfId: id,
    clusterId: () => 'c1',
    logger: nullLogger(),
    metrics: createMetrics({ defaultMetrics: false }),
    onMessages,
    pingIntervalMs: 50,
    backoffBaseMs: 20,
    backoffMaxMs: 100,
  });
}

void test('client API and peer streams share one port', async () => {
  const got: Message[] = [];
  const tB = transport('b', (m) => got.push(...m));
  const b = await startHttpServer(newApp(new FakeKvService()), { host: '127.0.0.1', port: 0 }, tB);
  const tA = transport('a', () => {});
  try {
    const url = `http://127.0.0.1:${b.address.port}`;
    tA.setPeer('b', url);
    tA.send([emptyMessage(MessageType.Heartbeat, 'a', 'b', 1)]);
    const put = await fetch(`${url}/v1/kv/x`, { method: 'PUT', body: '{"value":"1"}' });
    assert.equal(put.status, 200);
    const deadline = Date.now() + 10_000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(got[0]?.type, MessageType.Heartbeat);
    // An upgrade that is not a peer stream is refused, not left hanging.
    const status = await rawUpgrade(b.address.port);
    assert.equal(status, 400);
  } finally {
    await tA.close();
    await tB.close();
    await b.close(1000);
  }
});

void test('graceful close ends blocking watches, finishes in-flight requests, then stops listening', async () => {
  const fake = new FakeKvService();
  const running = await startHttpServer(newApp(fake), '127.0.0.1:0', null);
  const url = `http://127.0.0.1:${running.address.port}`;
  await fetch(`${url}/v1/kv/w`, { method: 'PUT', body: '{"value":"v"}' });
  const watch = fetch(`${url}/v1/kv/w?index=1&wait=10m`);
  while (!fake.calls.some((c) => c.method === 'watch')) await new Promise((r) => setTimeout(r, 5));
  const closed = running.close(10_000);
  const res = await watch;
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('connection'), 'close');
  assert.equal(((await res.json()) as { value: string }).value, 'v');
  await closed;
  await assert.rejects(fetch(`${url}/livez`));
});

void test('the close deadline drops requests that do not finish', async () => {
  const fake = new FakeKvService();
  let reads = 0;
  fake.get = () => {
    reads++;
    return new Promise(() => {}); // a read that never completes
  };
  const running = await startHttpServer(newApp(fake), '127.0.0.1:0', null);
  const url = `http://127.0.0.1:${running.address.port}`;
  const stuck = fetch(`${url}/v1/kv/x`).then(
    () => 'answered',
    () => 'dropped',
  );
  while (reads === 0) await new Promise((r) => setTimeout(r, 5));
  await running.close(100);
  assert.equal(await stuck, 'dropped');
});

void test('a separate peer listener serves only peer streams', async () => {
  const got: Message[] = [];
  const tB = transport('b', (m) => got.push(...m));
  const peer = await startPeerServer('127.0.0.1:0', tB);
  const tA = transport('a', () => {});
  try {
    const url = `http://127.0.0.1:${peer.address.port}`;
    const res = await fetch(`${url}/v1/kv/x`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'not-found');
    tA.setPeer('b', url);
    tA.send([emptyMessage(MessageType.Heartbeat, 'a', 'b', 1)]);
    const deadline = Date.now() + 10_000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(got.length, 1);
  } finally {
    await tA.close();
    await tB.close();
    await peer.close(1000);
  }
});

void test('listening on a busy port rejects', async () => {
  const first = await startHttpServer(newApp(new FakeKvService()), '127.0.0.1:0', null);
  try {
    await assert.rejects(
      startHttpServer(newApp(new FakeKvService()), `127.0.0.1:${first.address.port}`, null),
      /EADDRINUSE/,
    );
  } finally {
    await first.close(1000);
  }
});

function rawUpgrade(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: '/v1/kv/x',
      headers: { connection: 'Upgrade', upgrade: 'websocket' },
    });
    req.once('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('upgrade', () => reject(new Error('unexpected upgrade')));
    req.once('error', reject);
    req.end();
  });
}
