import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RowName } from './args.ts';
import type { RowPoint } from './points.ts';
import { describePoint, headline, renderReport, renderTable, tlsCost } from './report.ts';

function point(row: RowName, id: string, rps: number, p99Ms: number, cpu: number | null): RowPoint {
  const [op, c] = id.split('-');
  return {
    row,
    point: { id, group: 'put', op: op as 'put', clients: Number(c!.slice(1)), valueSize: 100, members: 3 },
    runs: [],
    rps,
    p50Ms: p99Ms / 2,
    p99Ms,
    p999Ms: p99Ms * 2,
    errors: 0,
    cpuSecPer1kReq: cpu,
  };
}

void test('renderTable aligns columns under their headers, as a Markdown table', () => {
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
  assert.ok(lines[3]!.endsWith('12345 |'));
  assert.match(lines[1]!, /^\|-+\|-+:\|$/);
});

void test('headline: kv-store / etcd 3.6 native ratios per point, missing sides empty', () => {
  const rows = headline([
    point('kvstore', 'put-c64-v100-m3', 1500, 8, 2),
    point('etcd36', 'put-c64-v100-m3', 1000, 10, 4),
    point('etcd34-gw', 'get-c64-v100-m3', 4000, 5, 1),
  ]);
  const put = rows.find((r) => r.point === 'put-c64-v100-m3')!;
  assert.equal(put.rpsRatio, 1.5);
  assert.equal(put.p99Ratio, 0.8);
  assert.equal(put.cpuRatio, 0.5);
  assert.equal(rows.find((r) => r.point === 'get-c64-v100-m3')!.rpsRatio, null);
});

void test('describePoint names the load and what differs from 100 B, 3 members', () => {
  assert.equal(describePoint('put-c64-v100-m3'), 'PUT 64');
  assert.equal(describePoint('put-c64-v262144-m3'), 'PUT 64, 256 KiB');
  assert.equal(describePoint('get-c64-v100-m5'), 'lin. GET 64, 5 members');
});

void test('renderReport shows failures, skipped rows and the figures of the rows that ran', () => {
  const text = renderReport({
    clusters: { etcd36: { notes: [], error: 'etcd 3.6 failed to start\nmore detail' } },
    points: [
      point('kvstore', 'put-c1-v100-m3', 321, 4, 1.5),
      { ...point('etcd36', 'mixed-c64-v100-m3', 0, 0, null), skipped: 'no mode' },
    ],
    watch: {},
    rowErrors: {},
  });
  assert.match(text, /321/);
  assert.match(text, /etcd36: FAILED: etcd 3\.6 failed to start$/m);
  assert.match(text, /n\/a: no mode/);
});

void test('TLS cost: each row on a point against its own plain run; the headline stays plain vs plain', () => {
  const tls = (p: RowPoint): RowPoint => ({ ...p, tls: true });
  const points = [
    point('kvstore', 'put-c64-v100-m3', 1000, 10, 2),
    tls(point('kvstore', 'put-c64-v100-m3', 800, 12.5, 2.5)),
    point('etcd36', 'put-c64-v100-m3', 900, 9, 3),
    tls(point('etcd36', 'put-c64-v100-m3', 810, 9.9, 3.3)),
    // a TLS figure without its plain twin has no ratio row
    tls(point('kvstore', 'get-c64-v100-m3', 5000, 2, 1)),
  ];
  const rows = tlsCost(points);
  assert.equal(rows.length, 2);
  const kv = rows.find((r) => r.row === 'kvstore')!;
  assert.equal(kv.rpsRatio, 0.8);
  assert.equal(kv.p99Ratio, 1.25);
  assert.equal(rows.find((r) => r.row === 'etcd36')!.rpsRatio, 0.9);
  const head = headline(points.filter((p) => p.tls !== true));
  assert.equal(head[0]!.kvRps, 1000);
  const text = renderReport({ clusters: {}, points, watch: {}, rowErrors: {} });
  assert.match(text, /Cost of TLS/);
  assert.match(text, /kvstore\+tls/);
  assert.match(text, /\| +PUT 64 +\| kvstore +\| +1000 \| +800 \| +0\.80 \|/);
});
