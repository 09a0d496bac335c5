// Runs the real wrk + bench.lua's load mode against a throwaway HTTP server: every key of the range
// exactly once (thread 0's pipelining probe must not eat a key), random values, answered failures
// counted, and the run ends when the last share is answered rather than after wrk's -d.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { bulkLoad, parseLoadResult } from './bulk-load.ts';
import type { Cluster } from './cluster.ts';
import { commandExists } from './install.ts';

const skip = commandExists('wrk') ? false : 'wrk is not installed (npm run bench installs it)';

async function kvServer(
  failKey: string | null,
): Promise<{ server: http.Server; puts: Map<string, string>; cluster: Cluster }> {
  const puts = new Map<string, string>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = request.url ?? '';
      if (request.method === 'PUT' && url.startsWith('/v1/kv/')) {
        const key = url.slice('/v1/kv/'.length);
        assert.ok(!puts.has(key), `${key} written twice`);
        puts.set(key, (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { value: string }).value);
        response.writeHead(key === failKey ? 503 : 200).end('{}');
        return;
      }
      response.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const cluster = {
    system: 'kvstore',
    scheme: 'http',
    members: [{ clientHostPort: `127.0.0.1:${port}` }],
    waitForLeader: () => Promise.resolve(0),
  } as unknown as Cluster;
  return { server, puts, cluster };
}

void test('load: every key of the range once, with distinct values, then wrk stops', { skip }, async () => {
  const { server, puts, cluster } = await kvServer(null);
  try {
    const report = await bulkLoad(cluster, 1003, 5, 8, 60);
    assert.equal(report.failed, 0);
    assert.equal(puts.size, 1003);
    for (let i = 5; i < 1008; i++) assert.ok(puts.has(`bulk/${String(i).padStart(7, '0')}`), `key ${i}`);
    assert.equal(puts.get('bulk/0000005')!.length, 100);
    assert.ok(new Set(puts.values()).size > 1000, 'values differ from key to key');
    assert.ok(report.seconds < 30, `ended after ${report.seconds} s, not at wrk's -d`);
  } finally {
    server.close();
  }
});

void test('load: an answered failure is counted', { skip }, async () => {
  const { server, cluster } = await kvServer('bulk/0000007');
  try {
    const report = await bulkLoad(cluster, 20, 1, 2, 60);
    assert.equal(report.failed, 1);
  } finally {
    server.close();
  }
});

void test('parseLoadResult', () => {
  assert.deepEqual(parseLoadResult('x\nLOAD_RESULT {"puts":3,"failed":1,"durationUs":9}\n'), {
    puts: 3,
    failed: 1,
    durationUs: 9,
  });
  assert.throws(() => parseLoadResult('nothing'), /no LOAD_RESULT/);
});
