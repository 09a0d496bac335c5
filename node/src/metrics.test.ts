import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMetrics, METRIC_PREFIX, SLOW_APPLY_SECONDS } from './metrics.ts';

void test('every metric carries the prefix; _total only on counters; base units', async () => {
  const m = createMetrics();
  const metrics = await m.registry.getMetricsAsJSON();
  assert.ok(metrics.length > 20);
  for (const metric of metrics) {
    // prom-client's default process/nodejs metrics keep their standard names, for stock dashboards.
    if (/^(process|nodejs)_/.test(metric.name)) continue;
    assert.ok(metric.name.startsWith(METRIC_PREFIX), metric.name);
    if (metric.name.endsWith('_total')) assert.equal(String(metric.type), 'counter', metric.name);
    if (String(metric.type) === 'counter')
      assert.ok(metric.name.endsWith('_total'), `counter without _total: ${metric.name}`);
    assert.doesNotMatch(metric.name, /_(ms|milliseconds|kb|mb)$/);
  }
});

void test('the issue-3 metric set is exported', async () => {
  const m = createMetrics();
  m.peerRoundTripTimeSeconds.observe({ peer: 'n2' }, 0.002);
  m.peerSentBytesTotal.inc({ peer: 'n2' }, 10);
  m.httpRequestDurationSeconds.observe({ route: '/v1/kv/:key', method: 'GET', code: '200' }, 0.001);
  const text = await m.registry.metrics();
  for (const name of [
    'has_leader',
    'is_leader',
    'leader_changes_seen_total',
    'term',
    'commit_index',
    'applied_index',
    'proposals_committed_total',
    'proposals_applied_total',
    'proposals_pending',
    'proposals_failed_total',
    'disk_sync_duration_seconds_bucket',
    'apply_duration_seconds_bucket',
    'snapshot_duration_seconds_bucket',
    'snapshot_size_bytes',
    'peer_round_trip_time_seconds_bucket{le="0.004",peer="n2"}',
    'peer_sent_bytes_total{peer="n2"} 10',
    'peer_received_bytes_total',
    'http_request_duration_seconds_count{route="/v1/kv/:key",method="GET",code="200"} 1',
    'keys',
    'read_index_total',
    'slow_applies_total',
    'heartbeat_send_failures_total',
    'build_info{version="0.1.0",nodejs_version="',
  ]) {
    assert.ok(text.includes(METRIC_PREFIX + name), `missing ${name}`);
  }
  for (const name of [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_seconds',
  ])
    assert.match(text, new RegExp(`^${name} `, 'm'), `standard name ${name}`);
  assert.doesNotMatch(text, /kvstore_(process|nodejs)_/);
  assert.ok(SLOW_APPLY_SECONDS > 0);
});

void test('member info carries the identity alerts join on; db size sums the data directory', async () => {
  const m = createMetrics({ defaultMetrics: false });
  assert.doesNotMatch(await m.registry.metrics(), /kvstore_member_info\{/, 'no identity before it is known');
  let clusterId = '';
  m.setIdentity(() => ({ clusterId, member: 'n1' }));
  assert.match(
    await m.registry.metrics(),
    /kvstore_member_info\{cluster_id="",member="n1",version="0.1.0"\} 1/,
  );
  clusterId = 'c0ffee';
  const text = await m.registry.metrics();
  assert.match(text, /kvstore_member_info\{cluster_id="c0ffee",member="n1",version="0.1.0"\} 1/);
  assert.equal(text.match(/kvstore_member_info\{/g)?.length, 1, 'the old identity is gone');

  const dir = mkdtempSync(path.join(tmpdir(), 'kv-metrics-'));
  try {
    mkdirSync(path.join(dir, 'snap'));
    writeFileSync(path.join(dir, 'a'), Buffer.alloc(1000));
    writeFileSync(path.join(dir, 'snap', 'b'), Buffer.alloc(234));
    m.setDataDir(dir);
    const text2 = await m.registry.metrics();
    assert.match(text2, /^kvstore_db_size_bytes 1234$/m);
    // The filesystem holding it: what the disk-usage alerts read (ADR 0076).
    const { statfsSync } = await import('node:fs');
    const fs = statfsSync(dir);
    const avail = Number(/^kvstore_data_dir_available_bytes (\d+)$/m.exec(text2)?.[1]);
    const size = Number(/^kvstore_data_dir_capacity_bytes (\d+)$/m.exec(text2)?.[1]);
    assert.equal(size, fs.blocks * fs.bsize);
    assert.ok(avail > 0 && avail <= size, `available ${avail} of ${size}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('two factories do not share state', async () => {
  const a = createMetrics({ defaultMetrics: false });
  const b = createMetrics({ defaultMetrics: false });
  a.term.set(7);
  assert.match(await a.registry.metrics(), /kvstore_term 7/);
  assert.match(await b.registry.metrics(), /kvstore_term 0/);
});
