import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { benchKey, bulkKey, valueOfSize } from './scenarios.ts';

void test('keys match the Lua script naming and sort in load order', () => {
  assert.equal(benchKey(42), 'bench/000042');
  assert.equal(bulkKey(1_000_000), 'bulk/1000000');
  assert.ok(bulkKey(9) < bulkKey(10));
});

void test('values have the requested size, differ per seed and do not compress away', () => {
  const a = valueOfSize(100, 1);
  assert.equal(a.length, 100);
  assert.notEqual(a, valueOfSize(100, 2));
  const many = Array.from({ length: 200 }, (_, i) => valueOfSize(100, i)).join('');
  // 36 symbols carry ~5.2 bits each: no general compressor gets far below 65 % of the text
  assert.ok(deflateRawSync(many).length > many.length * 0.6);
});
