import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from './args.ts';

void test('defaults: both systems, 3 repetitions at 1/16/64 connections, 1M keys', () => {
  const options = parseArgs([]);
  assert.deepEqual(options.systems, ['etcd', 'kvstore']);
  assert.equal(options.repetitions, 3);
  assert.deepEqual(options.connections, [1, 16, 64]);
  assert.equal(options.bulkKeys, 1_000_000);
  assert.equal(options.skip1m, false);
});

void test('--quick --only etcd --skip-1m', () => {
  const options = parseArgs(['--quick', '--only', 'etcd', '--skip-1m']);
  assert.equal(options.repetitions, 1);
  assert.deepEqual(options.systems, ['etcd']);
  assert.equal(options.skip1m, true);
  assert.ok(options.connections.length < 3);
});

void test('--flag=value form and explicit overrides win over --quick', () => {
  const options = parseArgs(['--quick', '--only=kvstore', '--reps=4', '--connections', '2,8']);
  assert.deepEqual(options.systems, ['kvstore']);
  assert.equal(options.repetitions, 4);
  assert.deepEqual(options.connections, [2, 8]);
});

void test('bad input is rejected', () => {
  assert.throws(() => parseArgs(['--only', 'redis']));
  assert.throws(() => parseArgs(['--reps', '0']));
  assert.throws(() => parseArgs(['--frobnicate']));
});
