import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snapshotDue, snapshotPhase } from './snapshot-schedule.ts';

/** Indexes at which a member snapshots while applying 1..upTo one by one. */
function snapshotsOf(phase: number, threshold: number, upTo: number, start = 0): number[] {
  const out: number[] = [];
  let last = start;
  for (let applied = start + 1; applied <= upTo; applied++) {
    if (snapshotDue(applied, last, threshold, phase)) {
      out.push(applied);
      last = applied;
    }
  }
  return out;
}

void test('members of a cluster get evenly spread phases', () => {
  const ids = ['n3', 'n1', 'n2'];
  assert.deepEqual(
    ids.map((id) => snapshotPhase(id, ids, 900)),
    [600, 0, 300],
  );
  assert.equal(snapshotPhase('solo', ['solo'], 900), 0);
  assert.equal(snapshotPhase('unknown', ['a', 'b'], 900), 0);
});

void test('each member snapshots every threshold entries on its own phase, never two at once', () => {
  const threshold = 1000;
  const ids = ['a', 'b', 'c'];
  const all = ids.map((id) => snapshotsOf(snapshotPhase(id, ids, threshold), threshold, 10_000));
  for (const points of all) {
    const gaps = points.slice(1).map((p, i) => p - points[i]!);
    assert.ok(
      gaps.every((g) => g === threshold),
      `gaps ${gaps.join(',')}`,
    );
  }
  const firsts = all.map((p) => p[0]);
  assert.deepEqual(firsts, [1000, 1333, 666]);
  // In steady state the members are a third of the interval apart.
  assert.deepEqual(
    all.map((p) => p[2]! % threshold),
    [0, 333, 666],
  );
});

void test('the gap between snapshots stays within [threshold/2, 1.5 threshold], whatever the start', () => {
  const threshold = 1000;
  for (const start of [0, 1, 499, 500, 999, 1234, 1666]) {
    for (const phase of [0, 333, 666]) {
      const points = snapshotsOf(phase, threshold, start + 10_000, start);
      let prev = start;
      for (const p of points) {
        assert.ok(
          p - prev >= threshold / 2 && p - prev <= 1.5 * threshold,
          `start ${start} phase ${phase}: ${prev}->${p}`,
        );
        prev = p;
      }
    }
  }
});
