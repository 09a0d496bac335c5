// -http-workers (docs/adr/0063) on real processes: the client port is served by worker threads
// sharing it, peer streams still reach the Raft thread through it, reads stay linearizable,
// watches wake, /metrics is one process's, and SIGTERM still stops cleanly.
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ProcCluster, waitFor } from './harness.ts';

/** A request on a new connection each time, so the kernel spreads them over the workers. */
function fresh(
  method: string,
  url: string,
  body?: unknown,
): Promise<{ status: number; body: any; index: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: text === '' ? null : JSON.parse(text),
            index: Number(res.headers['x-kv-index']),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function metricSum(text: string, name: string, labels: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('HTTP workers (-http-workers 2)', () => {
  let c: ProcCluster;
  const ids = ['hw1', 'hw2', 'hw3'];
  before(async () => {
    c = await ProcCluster.start(ids, ['-http-workers', '2']);
  });
  after(async () => {
    await c.close();
  });

  test('writes through every member are visible at once on every member, on fresh connections', async () => {
    for (const [i, id] of ids.entries()) {
      for (let n = 0; n < 5; n++) {
        const put = await fresh('PUT', `${c.node(id).url}/v1/kv/hw/${id}/${n}`, { value: `v${i}.${n}` });
        assert.equal(put.status, 200, JSON.stringify(put.body));
        assert.ok(put.index >= put.body.modifyIndex);
        for (const reader of ids) {
          const got = await fresh('GET', `${c.node(reader).url}/v1/kv/hw/${id}/${n}`);
          assert.equal(got.body?.value, `v${i}.${n}`, `${reader} reading a write made through ${id}`);
        }
      }
    }
  });

  test('errors keep their format and status', async () => {
    const url = c.node('hw2').url;
    const cases: [string, Promise<{ status: number; body: any }>, number, string][] = [
      ['unknown route', fresh('GET', `${url}/v2/nothing`), 404, 'not-found'],
      ['missing key', fresh('GET', `${url}/v1/kv/hw/none`), 404, 'key-not-found'],
      ['unknown parameter', fresh('GET', `${url}/v1/kv/hw/x?bogus=1`), 400, 'unknown-parameter'],
      ['bad body', fresh('PUT', `${url}/v1/kv/hw/x`, { value: 1 }), 400, 'invalid-body'],
      [
        'oversized value',
        fresh('PUT', `${url}/v1/kv/hw/x`, { value: 'x'.repeat(1024 * 1024 + 1) }),
        413,
        'value-too-large',
      ],
    ];
    for (const [name, p, status, code] of cases) {
      const r = await p;
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body?.error?.code, code, name);
      assert.equal(typeof r.body?.error?.message, 'string', name);
    }
  });

  test('a blocking watch on a follower wakes on a write made through the leader', async () => {
    const leader = await c.waitForLeader();
    const follower = ids.find((id) => id !== leader)!;
    const start = await fresh('PUT', `${c.node(leader).url}/v1/kv/hwatch/a`, { value: '1' });
    const waiting = fresh(
      'GET',
      `${c.node(follower).url}/v1/kv/hwatch/?recurse&index=${start.index}&wait=20s`,
    );
    await new Promise((r) => setTimeout(r, 200));
    const put = await fresh('PUT', `${c.node(leader).url}/v1/kv/hwatch/a`, { value: '2' });
    const woke = await waiting;
    assert.equal(woke.status, 200);
    assert.ok(woke.index >= put.index, `woke at ${woke.index}, write at ${put.index}`);
    assert.equal(woke.body.items[0].value, '2');
  });

  test('/metrics is the process: one set of process metrics, HTTP counts of every worker', async () => {
    const url = c.node('hw3').url;
    const text0 = await (await fetch(`${url}/metrics`)).text();
    const label = 'route="/v1/status",method="GET",code="200"';
    const count0 = metricSum(text0, 'kvstore_http_request_duration_seconds_count', label);
    for (let i = 0; i < 20; i++) assert.equal((await fresh('GET', `${url}/v1/status`)).status, 200);
    const res = await fetch(`${url}/metrics`);
    const text = await res.text();
    assert.equal(metricSum(text, 'kvstore_http_request_duration_seconds_count', label) - count0, 20);
    assert.equal(text.split('\n').filter((l) => l.startsWith('process_cpu_seconds_total ')).length, 1);
    assert.match(text, /^kvstore_is_leader [01]$/m);
  });

  test('SIGTERM stops a member cleanly and the others keep serving', async () => {
    const leader = await c.waitForLeader();
    const victim = ids.find((id) => id !== leader)!;
    await c.stop(victim);
    const log = readFileSync(c.node(victim).logFile, 'utf8');
    assert.match(log, /"msg":"stopped cleanly"/);
    assert.doesNotMatch(log, /"level":"error"/);
    await waitFor('a write after the stop', async () => {
      const r = await fresh('PUT', `${c.node(leader).url}/v1/kv/hw/after-stop`, { value: 'x' });
      return r.status === 200 ? true : null;
    });
  });
});
