// Runs the real wrk + bench.lua against throwaway HTTP servers: checks the request shapes for both
// systems, the spreading of threads over targets, and that non-2xx answers are counted as errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { commandExists } from './install.ts';
import { runWrk } from './wrk.ts';

interface Seen {
  method: string;
  url: string;
  body: string;
}

async function startServer(
  failEvery: number,
): Promise<{ server: http.Server; seen: Seen[]; failures: () => number; hostPort: string }> {
  const seen: Seen[] = [];
  let failures = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({
        method: request.method ?? '',
        url: request.url ?? '',
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const fail = failEvery > 0 && seen.length % failEvery === 0;
      if (fail) failures++;
      response.writeHead(fail ? 500 : 200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, seen, failures: () => failures, hostPort: `127.0.0.1:${port}` };
}

const skip = commandExists('wrk') ? false : 'wrk is not installed (npm run bench installs it)';

void test(
  'etcd PUT: base64 key out of the keyspace and a 100-byte value, to the first target only',
  { skip },
  async () => {
    const target = await startServer(0);
    try {
      const result = await runWrk({
        protocol: 'etcd',
        op: 'put',
        targets: [target.hostPort],
        connections: 2,
        durationSec: 1,
        keyspace: 50,
        valueSize: 100,
      });
      assert.ok(result.raw.requests > 0);
      assert.equal(result.errors, 0);
      const first = target.seen[0]!;
      assert.equal(first.method, 'POST');
      assert.equal(first.url, '/v3/kv/put');
      const body = JSON.parse(first.body) as { key: string; value: string };
      assert.match(Buffer.from(body.key, 'base64').toString(), /^bench\/0000[0-5]\d$/);
      assert.equal(Buffer.from(body.value, 'base64').length, 100);
    } finally {
      target.server.close();
    }
  },
);

void test(
  'kv-store GET spreads threads over all targets and counts non-2xx as errors',
  { skip },
  async () => {
    const targets = await Promise.all([startServer(5), startServer(5), startServer(5)]);
    try {
      const result = await runWrk({
        protocol: 'kvstore',
        op: 'get',
        targets: targets.map((t) => t.hostPort),
        connections: 6,
        durationSec: 1,
        keyspace: 1000,
        valueSize: 100,
      });
      for (const target of targets) {
        assert.ok(target.seen.length > 0, `target ${target.hostPort} got no requests`);
        assert.match(target.seen[0]!.url, /^\/v1\/kv\/bench\/\d{6}$/);
        assert.equal(target.seen[0]!.method, 'GET');
      }
      const served500 = targets.reduce((sum, t) => sum + t.failures(), 0);
      assert.ok(result.raw.non2xx > 0, 'some 500s were counted');
      assert.ok(result.raw.non2xx <= served500, `${result.raw.non2xx} counted <= ${served500} served`);
    } finally {
      for (const target of targets) target.server.close();
    }
  },
);

void test('kv-store PUT sends a JSON body with the value', { skip }, async () => {
  const target = await startServer(0);
  try {
    await runWrk({
      protocol: 'kvstore',
      op: 'put',
      targets: [target.hostPort],
      connections: 1,
      durationSec: 1,
      keyspace: 10,
      valueSize: 100,
    });
    const first = target.seen[0]!;
    assert.equal(first.method, 'PUT');
    assert.match(first.url, /^\/v1\/kv\/bench\/0000(0\d|10)$/);
    assert.equal((JSON.parse(first.body) as { value: string }).value.length, 100);
  } finally {
    target.server.close();
  }
});
