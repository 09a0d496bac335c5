import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planRetention, type ListedSegment, type ListedSnapshot } from './retention.ts';

const DAY = 86_400_000;
const NOW = 100 * DAY;
/** One snapshot a day for `days` days up to today, index 100 per day; the segments between them. */
function daily(days: number): { snaps: ListedSnapshot[]; segs: ListedSegment[] } {
  const snaps: ListedSnapshot[] = [];
  const segs: ListedSegment[] = [];
  for (let d = days - 1; d >= 0; d--) {
    const index = (days - d) * 100;
    snaps.push({ key: `snap-${index}`, index, lastModified: NOW - d * DAY });
    segs.push({ key: `seg-${index - 99}-${index}`, first: index - 99, last: index });
  }
  segs.push({
    key: `seg-${days * 100 + 1}-${days * 100 + 50}`,
    first: days * 100 + 1,
    last: days * 100 + 50,
  });
  return { snaps, segs };
}

test('count only: the newest keepFull snapshots and the segments after the oldest of them', () => {
  const { snaps, segs } = daily(10);
  const p = planRetention(snaps, segs, { keepFull: 3, keepAgeMs: null }, NOW);
  assert.equal(p.oldestKept, 800);
  assert.deepEqual(p.deleteSnapshots, [
    'snap-100',
    'snap-200',
    'snap-300',
    'snap-400',
    'snap-500',
    'snap-600',
    'snap-700',
  ]);
  assert.ok(
    p.deleteSegments.includes('seg-701-800'),
    'ends at the oldest kept: a restore from it starts after',
  );
  assert.ok(!p.deleteSegments.includes('seg-801-900'));
  assert.equal(p.keptBy, 'count');
});

test('by age: everything in the window plus the newest snapshot before it, even beyond keepFull', () => {
  const { snaps, segs } = daily(10);
  // 3.5 days: snapshots of today, -1, -2, -3 are inside; -4 (index 600) is the base of the window.
  const p = planRetention(snaps, segs, { keepFull: 2, keepAgeMs: 3.5 * DAY }, NOW);
  assert.equal(p.oldestKept, 600);
  assert.equal(p.keptBy, 'age');
  assert.deepEqual(p.deleteSnapshots, ['snap-100', 'snap-200', 'snap-300', 'snap-400', 'snap-500']);
  assert.deepEqual(p.deleteSegments, [
    'seg-1-100',
    'seg-101-200',
    'seg-201-300',
    'seg-301-400',
    'seg-401-500',
    'seg-501-600',
  ]);
});

test('both rules keep: a snapshot goes only when it is old AND keepFull newer ones exist', () => {
  const { snaps, segs } = daily(10);
  // keepFull 8 keeps more than a 1.5-day window would.
  const p = planRetention(snaps, segs, { keepFull: 8, keepAgeMs: 1.5 * DAY }, NOW);
  assert.equal(p.oldestKept, 300);
  assert.equal(p.keptBy, 'count');
});

test('never the newest snapshot, and nothing when no snapshot predates the window', () => {
  const { snaps, segs } = daily(5);
  const all = planRetention(snaps, segs, { keepFull: 1, keepAgeMs: 30 * DAY }, NOW);
  assert.deepEqual(all.deleteSnapshots, []);
  assert.equal(all.oldestKept, 100);
  assert.deepEqual(all.deleteSegments, ['seg-1-100']);
  // A zero-length window and keepFull 0 still keep the newest.
  const newest = planRetention(snaps, segs, { keepFull: 0, keepAgeMs: 0 }, NOW + DAY);
  assert.equal(newest.oldestKept, 500);
  assert.equal(newest.deleteSnapshots.length, 4);
  assert.deepEqual(planRetention([], segs, { keepFull: 1, keepAgeMs: null }, NOW).deleteSegments, []);
});

test('every point in the window keeps a snapshot at or before it and every entry after that', () => {
  // Irregular snapshots (scheduled and on-demand), checked point by point.
  const times = [0, 5, 6, 20, 21, 22, 40, 41, 70, 90, 95, 99].map((h) => h * 3_600_000);
  const snaps = times.map((t, i) => ({ key: `s${i}`, index: (i + 1) * 10, lastModified: t }));
  const segs = times.map((_, i) => ({ key: `g${i}`, first: i * 10 + 1, last: (i + 1) * 10 }));
  const now = 100 * 3_600_000;
  for (const keepAgeH of [1, 10, 30, 59, 60, 61, 95, 200]) {
    const keepAgeMs = keepAgeH * 3_600_000;
    const p = planRetention(snaps, segs, { keepFull: 1, keepAgeMs }, now);
    const kept = snaps.filter((s) => !p.deleteSnapshots.includes(s.key));
    const keptSegs = segs.filter((s) => !p.deleteSegments.includes(s.key));
    for (let t = now - keepAgeMs; t <= now; t += 600_000) {
      const base = kept.filter((s) => s.lastModified <= t).at(-1) ?? (t < times[0]! ? kept[0] : undefined);
      assert.ok(base !== undefined, `window ${keepAgeH} h: no snapshot for ${t}`);
      for (let i = base.index + 1; i <= snaps.at(-1)!.index; i++)
        assert.ok(
          keptSegs.some((s) => s.first <= i && i <= s.last),
          `window ${keepAgeH} h: entry ${i} gone`,
        );
    }
  }
});
