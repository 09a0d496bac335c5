import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrkOutput, threadsFor } from './wrk.ts';

const SAMPLE = `Running 10s test @ http://127.0.0.1:23791
  2 threads and 16 connections
BENCH_RESULT {"requests":20000,"durationUs":10000000,"responses":20000,"non2xx":3,"connectErrors":0,"readErrors":1,"writeErrors":0,"timeouts":2,"p50Us":1500,"p90Us":3000,"p99Us":9000,"p999Us":15000,"maxUs":20000,"meanUs":1800.5}
`;

void test('parses the BENCH_RESULT line into rate, milliseconds and total errors', () => {
  const result = parseWrkOutput(SAMPLE);
  assert.equal(result.rps, 2000);
  assert.equal(result.p50Ms, 1.5);
  assert.equal(result.p99Ms, 9);
  assert.equal(result.p999Ms, 15);
  assert.equal(result.requests, 20000);
  assert.equal(result.errors, 6);
});

void test('output without a result line or with a missing field is an error', () => {
  assert.throws(() => parseWrkOutput('Running 10s test\n'));
  assert.throws(() => parseWrkOutput('BENCH_RESULT {"requests":1}\n'));
});

void test('threads divide the connection count and stay at most 16', () => {
  for (const connections of [1, 3, 16, 64, 100, 17]) {
    const threads = threadsFor(connections);
    assert.equal(connections % threads, 0, `connections ${connections}`);
    assert.ok(threads >= 1 && threads <= 16);
  }
  assert.equal(threadsFor(64), 16);
  assert.equal(threadsFor(1), 1);
});
