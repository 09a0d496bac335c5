import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBenchReport, percentileMs, splitWatchLatency } from './benchtool.ts';

// shaped like `benchmark --precise put` of etcd 3.6.8 (tabs as the tool prints them)
const PUT = `
Summary:
  Total:\t2.5 secs.
  Slowest:\t0.004157758 secs.
  Fastest:\t0.00030352 secs.
  Average:\t0.0009094413966666668 secs.
  Stddev:\t0.00047719804233906126 secs.
  Requests/sec:\t4000.5

Response time histogram:
  0.00030352 [1]\t|
  0.0006889438000000001 [8000]\t|∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎
  0.004157758 [1999]\t|∎∎∎∎∎

Latency distribution:
  10% in 0.00056015 secs.
  50% in 0.000833405 secs.
  99% in 0.003502167 secs.
  99.9% in 4.1e-03 secs.

Error distribution:
  [3]\trpc error: code = Unavailable desc = etcdserver: leader changed
  [2]\tcontext deadline exceeded
`;

void test('parseBenchReport reads rate, counts, errors and percentiles in ms', () => {
  const r = parseBenchReport(PUT);
  assert.equal(r.rps, 4000.5);
  assert.equal(r.totalSec, 2.5);
  assert.equal(r.ok, 10_000);
  assert.equal(r.errors, 5);
  assert.equal(r.errorKinds['context deadline exceeded'], 2);
  assert.ok(Math.abs(r.percentilesMs['50']! - 0.833405) < 1e-9);
  assert.ok(Math.abs(percentileMs(r, '99.9') - 4.1) < 1e-9);
  assert.ok(Math.abs(r.slowestMs - 4.157758) < 1e-9);
});

void test('a missing high percentile (too few samples) is the slowest; a missing low one is 0', () => {
  const few = parseBenchReport(PUT.replace('  99.9% in 4.1e-03 secs.\n', ''));
  assert.ok(Math.abs(percentileMs(few, '99.9') - 4.157758) < 1e-9);
  const zeros = parseBenchReport(
    PUT.replace('  50% in 0.000833405 secs.\n', '').replace('  10% in 0.00056015 secs.\n', ''),
  );
  assert.equal(percentileMs(zeros, '50'), 0);
});

void test('all requests failed: only the error distribution, no summary', () => {
  const r = parseBenchReport('\nError distribution:\n  [64]\tconnection refused\n');
  assert.equal(r.ok, 0);
  assert.equal(r.errors, 64);
  assert.ok(Number.isNaN(percentileMs(r, '99')));
  assert.throws(() => parseBenchReport('nothing useful'));
});

void test('splitWatchLatency separates the put and the watch-event reports', () => {
  const text = `\nPut summary:\n${PUT}\nWatch events summary:\n${PUT.replace('Requests/sec:\t4000.5', 'Requests/sec:\t99')}`;
  const { put, watch } = splitWatchLatency(text);
  assert.equal(put.rps, 4000.5);
  assert.equal(watch.rps, 99);
  assert.throws(() => splitWatchLatency(PUT));
});
