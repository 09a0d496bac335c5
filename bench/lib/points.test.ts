import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from './args.ts';
import { benchToolArgs, planPoints, summarize, unsupported, type LoadResult } from './points.ts';

void test('planPoints: every group once, the 100 B size point is the PUT point at 64 clients', () => {
  const ids = planPoints(parseArgs([])).map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(ids.filter((id) => id.startsWith('put-c64-v100-m3')).length, 1);
  assert.ok(ids.includes('put-c64-v262144-m3'));
  assert.ok(ids.includes('get-c64-v100-m5'));
  assert.ok(ids.includes('mixed-c64-v100-m3'));
  assert.equal(ids.length, 4 + 4 + 3 + 1 + 2);
  assert.deepEqual(
    planPoints(parseArgs(['--quick'])).map((p) => p.id),
    ['put-c64-v100-m3', 'get-c64-v100-m3'],
  );
});

void test('benchToolArgs: PUT to the leader with random keys, linearizable range over all members', () => {
  const [put, get, mixed] = planPoints({ points: ['put', 'get', 'mixed'], clients: [16], valueSizes: [] });
  const endpoints = { leader: 'a:1', all: ['a:1', 'b:2', 'c:3'] };
  const putArgs = benchToolArgs(put!, endpoints, 5000, 100_000).join(' ');
  assert.match(
    putArgs,
    /^--endpoints a:1 --precise --clients 16 --conns 16 put --total 5000 .*--val-size 100 --key-space-size 100000 --sequential-keys=false$/,
  );
  const getArgs = benchToolArgs(get!, endpoints, 700, 100_000).join(' ');
  assert.match(getArgs, /--endpoints a:1,b:2,c:3 .* range bench\/000001 --consistency=l --total 700$/);
  assert.throws(() => benchToolArgs(mixed!, endpoints, 1, 1));
  assert.notEqual(unsupported('etcd36', mixed!), null);
  assert.equal(unsupported('etcd36-gw', mixed!), null);
});

void test('summarize: medians per figure, errors summed', () => {
  const run = (rps: number, errors: number, cpu: number | null): LoadResult => ({
    tool: 'wrk',
    rps,
    p50Ms: rps / 100,
    p99Ms: rps / 10,
    p999Ms: rps / 5,
    errors,
    requests: rps,
    cpuSecPer1kReq: cpu,
    cpu: { memberSeconds: [], loadGeneratorSeconds: 0, totalSeconds: 0 },
  });
  const [point] = planPoints({ points: ['put'], clients: [1], valueSizes: [] });
  const s = summarize('kvstore', point!, [run(100, 1, 0.5), run(300, 2, null), run(200, 0, 0.7)]);
  assert.equal(s.rps, 200);
  assert.equal(s.p99Ms, 20);
  assert.equal(s.errors, 3);
  assert.equal(s.cpuSecPer1kReq, 0.6);
});
