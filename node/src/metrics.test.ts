import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics, METRIC_PREFIX } from './metrics.ts';

void test('every metric carries the prefix; _total only on counters; base units', async () => {
  const m = createMetrics();
  const metrics = await m.registry.getMetricsAsJSON();
  assert.ok(metrics.length > 20);
  for (const metric of metrics) {
    assert.ok(metric.name.startsWith(METRIC_PREFIX), metric.name);
    // prom-client's default process/nodejs metrics keep their upstream names.
    if (/^kvstore_(process|nodejs)_/.test(metric.name)) continue;
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
    'process_cpu_seconds_total',
    'nodejs_eventloop_lag_seconds',
  ]) {
    assert.ok(text.includes(METRIC_PREFIX + name), `missing ${name}`);
  }
});

void test('two factories do not share state', async () => {
  const a = createMetrics({ defaultMetrics: false });
  const b = createMetrics({ defaultMetrics: false });
  a.term.set(7);
  assert.match(await a.registry.metrics(), /kvstore_term 7/);
  assert.match(await b.registry.metrics(), /kvstore_term 0/);
});
