import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Operation } from './history.ts';
import { findLostWrites } from './lost-writes.ts';

let id = 0;
const w = (
  key: string,
  value: string,
  call: number,
  ret: number,
  outcome: Operation['outcome'] = 'ok',
): Operation => ({
  id: id++,
  process: 0,
  key,
  kind: 'put',
  value,
  outcome,
  call,
  ret: outcome === 'unknown' ? Infinity : ret,
});

describe('lost-write check', () => {
  test('final value equal to the last acknowledged write passes', () => {
    assert.deepEqual(findLostWrites([w('k', 'a', 0, 1), w('k', 'b', 2, 3)], new Map([['k', 'b']])), []);
  });
  test('an acknowledged write replaced by an earlier one is lost', () => {
    const lost = findLostWrites([w('k', 'a', 0, 1), w('k', 'b', 2, 3)], new Map([['k', 'a']]));
    assert.deepEqual(
      lost.map((l) => l.op.value),
      ['b'],
    );
  });
  test('superseded by a concurrent or unknown write is fine', () => {
    assert.deepEqual(findLostWrites([w('k', 'a', 0, 5), w('k', 'b', 2, 3)], new Map([['k', 'a']])), []);
    assert.deepEqual(
      findLostWrites([w('k', 'a', 0, 1), w('k', 'u', 2, 3, 'unknown')], new Map([['k', 'u']])),
      [],
    );
  });
  test('a missing key loses its last acknowledged write', () => {
    assert.equal(findLostWrites([w('k', 'a', 0, 1)], new Map([['k', null]])).length, 1);
  });
  test('failed writes do not count as superseding', () => {
    assert.equal(
      findLostWrites([w('k', 'a', 0, 1), w('k', 'b', 2, 3, 'fail')], new Map([['k', null]])).length,
      1,
    );
  });
  test('an acknowledged delete must not be undone', () => {
    const del: Operation = {
      id: id++,
      process: 0,
      key: 'k',
      kind: 'delete',
      deleted: true,
      outcome: 'ok',
      call: 2,
      ret: 3,
    };
    assert.equal(findLostWrites([w('k', 'a', 0, 1), del], new Map([['k', 'a']])).length, 1);
    assert.equal(findLostWrites([w('k', 'a', 0, 1), del], new Map([['k', null]])).length, 0);
  });
});
