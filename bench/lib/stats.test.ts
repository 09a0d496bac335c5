import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, ratio } from './stats.ts';

void test('median of odd and even lists, order-independent', () => {
  assert.equal(median([5, 1, 3]), 3);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
});

void test('median refuses an empty list', () => {
  assert.throws(() => median([]));
});

void test('ratio handles missing and zero denominators', () => {
  assert.equal(ratio(3, 2), 1.5);
  assert.equal(ratio(3, 0), null);
  assert.equal(ratio(null, 2), null);
});
