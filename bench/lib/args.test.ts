import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_POINTS, ALL_ROWS, clustersFor, parseArgs } from './args.ts';

void test('defaults: every row and point, 3 repetitions at 1/16/64/256 clients, growth to 1M', () => {
  const options = parseArgs([]);
  assert.deepEqual(options.rows, ALL_ROWS);
  assert.deepEqual(options.points, ALL_POINTS);
  assert.equal(options.repetitions, 3);
  assert.deepEqual(options.clients, [1, 16, 64, 256]);
  assert.deepEqual(options.valueSizes, [100, 1024, 16384, 262144]);
  assert.deepEqual(options.growthKeys, [100_000, 1_000_000]);
});

void test('--quick --skip-1m is the smoke run: PUT/GET at 64 clients and failover, every row', () => {
  const options = parseArgs(['--quick', '--skip-1m']);
  assert.equal(options.repetitions, 1);
  assert.deepEqual(options.points, ['put', 'get', 'failover']);
  assert.deepEqual(options.clients, [64]);
  assert.ok(options.rows.includes('etcd36'));
});

void test('--points, --only (old name etcd = the Debian gateway), --growth-5m, --flag=value', () => {
  const options = parseArgs([
    '--points=put,growth',
    '--only',
    'kvstore,etcd',
    '--growth-5m',
    '--reps=4',
    '--connections',
    '2,8',
  ]);
  assert.deepEqual(options.points, ['put', 'growth']);
  assert.deepEqual(options.rows, ['kvstore', 'etcd34-gw']);
  assert.deepEqual(options.growthKeys, [100_000, 1_000_000, 5_000_000]);
  assert.equal(options.repetitions, 4);
  assert.deepEqual(options.clients, [2, 8]);
  assert.deepEqual(clustersFor(['etcd36', 'etcd36-gw', 'kvstore']), ['etcd36', 'kvstore']);
});

void test('bad input is rejected', () => {
  assert.throws(() => parseArgs(['--only', 'redis']));
  assert.throws(() => parseArgs(['--points', 'put,nope']));
  assert.throws(() => parseArgs(['--reps', '0']));
  assert.throws(() => parseArgs(['--sizes', '2000000']));
  assert.throws(() => parseArgs(['--frobnicate']));
});

void test('--tls: off by default (the smoke run stays plain), on or both; anything else refused', () => {
  assert.equal(parseArgs([]).tls, 'off');
  assert.equal(parseArgs(['--quick', '--skip-1m']).tls, 'off');
  assert.equal(parseArgs(['--tls', 'both']).tls, 'both');
  assert.equal(parseArgs(['--tls=on']).tls, 'on');
  assert.throws(() => parseArgs(['--tls', 'yes']), /--tls needs off, on or both/);
  assert.throws(() => parseArgs(['--tls']), /--tls needs off, on or both/);
});

void test('--keyspace sets the preloaded and addressed key count', () => {
  assert.equal(parseArgs(['--keyspace', '20000']).keyspace, 20_000);
  assert.throws(() => parseArgs(['--keyspace', '0']), /positive integer/);
});
