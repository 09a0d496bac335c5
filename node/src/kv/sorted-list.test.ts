import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SortedKeys, prefixSuccessor } from './sorted-list.ts';
import { ExpiryHeap } from './expiry-heap.ts';

function rng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % n;
  };
}

function keysFrom(s: SortedKeys, start: string): string[] {
  const out: string[] = [];
  s.scan(start, (key) => out.push(key) > 0);
  return out;
}

void describe('SortedKeys', () => {
  void test('matches a naive sorted set under random adds and deletes', () => {
    const rnd = rng(1);
    const s = new SortedKeys();
    const naive = new Set<string>();
    for (let i = 0; i < 30_000; i++) {
      const key = `k${rnd(5000)}/${rnd(7)}`;
      if (rnd(3) === 0) assert.equal(s.delete(key), naive.delete(key));
      else {
        const had = naive.has(key);
        naive.add(key);
        assert.equal(s.add(key), !had);
      }
    }
    const expected = [...naive].sort();
    assert.equal(s.size, expected.length);
    assert.deepEqual(keysFrom(s, ''), expected);
    for (const start of ['k1', 'k25', 'k4999/6', 'k5', 'z', '']) {
      assert.deepEqual(
        keysFrom(s, start),
        expected.filter((k) => k >= start),
        start,
      );
    }
    for (const k of expected.slice(0, 200)) assert.ok(s.has(k));
    assert.equal(s.has('nope'), false);
  });

  void test('scan stops when the visitor returns false', () => {
    const s = SortedKeys.fromSorted(['a', 'b', 'c', 'd']);
    const seen: string[] = [];
    s.scan('b', (key) => {
      seen.push(key);
      return key < 'c';
    });
    assert.deepEqual(seen, ['b', 'c']);
  });

  void test('fromSorted builds the same order, and view() is a point-in-time copy', () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `key${String(i).padStart(5, '0')}`);
    const s = SortedKeys.fromSorted(keys);
    assert.deepEqual(
      keysFrom(s, 'key01'),
      keys.filter((k) => k >= 'key01'),
    );
    const view = s.view();
    assert.equal(s.add('key00000a'), true);
    assert.equal(s.add('key00001'), false);
    s.delete('key00002');
    assert.deepEqual(keysFrom(s, '').slice(0, 4), ['key00000', 'key00000a', 'key00001', 'key00003']);
    const frozen = view.flat();
    assert.equal(frozen.length, 2000);
    assert.deepEqual(frozen.slice(0, 3), ['key00000', 'key00001', 'key00002']);
  });

  void test('prefixSuccessor bounds every string with the prefix', () => {
    assert.equal(prefixSuccessor('a/'), 'a0');
    assert.equal(prefixSuccessor('ab\uffff'), 'ac');
    assert.equal(prefixSuccessor('\uffff\uffff'), undefined);
    assert.ok('a/\uffff\uffff' < prefixSuccessor('a/')!);
  });
});

void describe('ExpiryHeap', () => {
  void test('pops in expiry order and lists only due entries', () => {
    const rnd = rng(2);
    const h = new ExpiryHeap();
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t = rnd(10_000);
      times.push(t);
      h.push({ expiresAt: t, key: `k${i}`, modifyIndex: i });
    }
    const due = [...h.due(2500)].map((e) => e.expiresAt).sort((a, b) => a - b);
    assert.deepEqual(
      due,
      times.filter((t) => t <= 2500).sort((a, b) => a - b),
    );
    const popped: number[] = [];
    for (let e = h.pop(); e !== undefined; e = h.pop()) popped.push(e.expiresAt);
    assert.deepEqual(
      popped,
      [...times].sort((a, b) => a - b),
    );
  });
});
