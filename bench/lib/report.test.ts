import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compare, renderReport, renderTable } from './report.ts';
import type { ThroughputPoint } from './scenarios.ts';

function point(
  system: string,
  op: 'put' | 'get',
  connections: number,
  rps: number,
  p99Ms: number,
): ThroughputPoint {
  return { system, op, connections, targets: [], runs: [], rps, p50Ms: p99Ms / 2, p99Ms, errors: 0 };
}

void test('renderTable aligns columns under their headers', () => {
  const text = renderTable(
    ['name', 'value'],
    [
      ['a', '1'],
      ['long name', '12345'],
    ],
  );
  const lines = text.split('\n');
  assert.equal(lines.length, 4);
  assert.equal(lines[0]!.length, lines[3]!.length);
  assert.ok(lines[3]!.endsWith('12345'));
});

void test('compare computes kv-store / etcd ratios per point and leaves missing sides empty', () => {
  const comparison = compare({
    etcd: {
      notes: [],
      throughput: [point('etcd', 'put', 64, 1000, 10), point('etcd', 'get', 64, 4000, 5)],
      failover: { runsMs: [], medianMs: 1200 },
    },
    kvstore: {
      notes: [],
      throughput: [point('kvstore', 'put', 64, 1500, 8)],
      failover: { runsMs: [], medianMs: 600 },
    },
  });
  const put = comparison.throughput.find((c) => c.op === 'put')!;
  assert.equal(put.rpsRatio, 1.5);
  assert.equal(put.p99Ratio, 0.8);
  const get = comparison.throughput.find((c) => c.op === 'get')!;
  assert.equal(get.rpsRatio, null);
  assert.equal(comparison.failoverRatio, 0.5);
  assert.equal(comparison.maxRssRatio, null);
});

void test('renderReport shows failures and the figures of the system that ran', () => {
  const results = {
    etcd: { notes: [], throughput: [point('etcd', 'put', 1, 321, 4)] },
    kvstore: { notes: [], error: 'kv-store binary not found\nmore detail' },
  };
  const text = renderReport(results, compare(results));
  assert.match(text, /321/);
  assert.match(text, /kvstore: FAILED: kv-store binary not found$/m);
});
