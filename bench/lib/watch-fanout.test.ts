import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliveryLatency, nearestRank, splitStreamLines } from './watch-fanout.ts';

void test('nearestRank', () => {
  const sorted = Array.from({ length: 1000 }, (_, i) => i + 1);
  assert.equal(nearestRank(sorted, 50), 500);
  assert.equal(nearestRank(sorted, 99.9), 999);
  assert.equal(nearestRank([7], 99), 7);
  assert.ok(Number.isNaN(nearestRank([], 50)));
});

void test('deliveryLatency: the first write above the arm index, from its ack, floored at 0', () => {
  const writes = [
    { index: 10, ackAt: 100 },
    { index: 12, ackAt: 150 },
    { index: 15, ackAt: 200 },
  ];
  assert.equal(deliveryLatency(writes, 9, 103), 3);
  assert.equal(deliveryLatency(writes, 10, 160), 10);
  assert.equal(deliveryLatency(writes, 11, 140), 0); // event before the ack
  assert.equal(deliveryLatency(writes, 15, 300), null);
});

void test('splitStreamLines: complete lines give their indexes, the unfinished rest waits', () => {
  assert.deepEqual(splitStreamLines('{"index":3,"items":[]}\n{"index":5,"kv":null}\n{"ind'), {
    indexes: [3, 5],
    rest: '{"ind',
  });
  assert.deepEqual(splitStreamLines('\n'), { indexes: [], rest: '' });
  assert.throws(() => splitStreamLines('{"kv":null}\n'), /without an index/);
  assert.throws(() => splitStreamLines('not json\n'));
});
