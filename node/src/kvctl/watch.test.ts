import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KeyValue } from '../kv/types.ts';
import { diffKey, diffPrefix } from './watch.ts';

const kv = (key: string, modifyIndex: number, value = `v${modifyIndex}`): KeyValue => ({
  key,
  value,
  createIndex: 1,
  modifyIndex,
  version: 1,
});

void describe('kvctl watch: events from successive states', () => {
  void test('one key', () => {
    assert.deepEqual(diffKey('k', null, kv('k', 5), 5, 4), [
      { type: 'PUT', key: 'k', value: 'v5', modifyIndex: 5, version: 1, index: 5 },
    ]);
    assert.deepEqual(diffKey('k', kv('k', 5), kv('k', 5), 9, 5), [], 'a timeout: same state');
    assert.deepEqual(
      diffKey('k', kv('k', 5), kv('k', 8), 8, 5).map((e) => e.type),
      ['PUT'],
    );
    assert.deepEqual(diffKey('k', kv('k', 5), null, 9, 5), [{ type: 'DELETE', key: 'k', index: 9 }]);
    assert.deepEqual(diffKey('k', null, null, 9, 5), []);
  });

  void test('one key from a given --index: puts after it count, an absence is not an event', () => {
    assert.deepEqual(
      diffKey('k', undefined, kv('k', 5), 7, 4).map((e) => e.type),
      ['PUT'],
    );
    assert.deepEqual(diffKey('k', undefined, kv('k', 5), 7, 5), []);
    assert.deepEqual(diffKey('k', undefined, null, 7, 5), []);
  });

  void test('a prefix: puts in index order, then deletes', () => {
    const prev = new Map([
      ['p/a', kv('p/a', 2)],
      ['p/b', kv('p/b', 3)],
      ['p/c', kv('p/c', 4)],
    ]);
    const events = diffPrefix(prev, [kv('p/a', 2), kv('p/c', 9), kv('p/d', 8)], false, 9, 4);
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.key}`),
      ['PUT p/d', 'PUT p/c', 'DELETE p/b'],
    );
    assert.deepEqual(diffPrefix(prev, [...prev.values()], false, 9, 4), []);
  });

  void test('a truncated listing does not report the keys after its end as deleted', () => {
    const prev = new Map([
      ['a', kv('a', 2)],
      ['b', kv('b', 3)],
      ['c', kv('c', 4)],
      ['z', kv('z', 5)],
    ]);
    assert.deepEqual(
      diffPrefix(prev, [kv('a', 2), kv('c', 4)], true, 9, 5).map((e) => `${e.type} ${e.key}`),
      ['DELETE b'],
    );
    assert.deepEqual(
      diffPrefix(prev, [kv('a', 2), kv('c', 4)], false, 9, 5).map((e) => `${e.type} ${e.key}`),
      ['DELETE b', 'DELETE z'],
    );
  });

  void test('a prefix from a given --index', () => {
    assert.deepEqual(
      diffPrefix(undefined, [kv('a', 2), kv('b', 6)], false, 9, 4).map((e) => `${e.type} ${e.key}`),
      ['PUT b'],
    );
  });
});
