import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import {
  COMPACT_GROWING_PERCENT,
  LARGE_HEAP_BYTES,
  growingPercentFor,
  heapGrowthPolicyWanted,
  startHeapGrowthPolicy,
} from './heap-growth.ts';

const MiB = 1024 * 1024;

test('a large live heap gets the compact growth, a small one V8 own, with hysteresis between', () => {
  assert.equal(growingPercentFor(50 * MiB, 0), 0);
  assert.equal(growingPercentFor(LARGE_HEAP_BYTES, 0), COMPACT_GROWING_PERCENT);
  // Between 75% of the threshold and the threshold, the current setting stays.
  assert.equal(growingPercentFor(LARGE_HEAP_BYTES - MiB, COMPACT_GROWING_PERCENT), COMPACT_GROWING_PERCENT);
  assert.equal(growingPercentFor(LARGE_HEAP_BYTES - MiB, 0), 0);
  assert.equal(growingPercentFor(LARGE_HEAP_BYTES * 0.7, COMPACT_GROWING_PERCENT), 0);
});

test('only a launcher-tuned process without an explicit growing flag runs the policy', () => {
  assert.equal(heapGrowthPolicyWanted({ KVSTORE_RUNTIME_TUNED: '1' }, ['--max-semi-space-size=8']), true);
  assert.equal(heapGrowthPolicyWanted({}, []), false);
  assert.equal(heapGrowthPolicyWanted({ KVSTORE_RUNTIME_TUNED: '1' }, ['--heap-growing-percent=20']), false);
});

test('the policy switches on a full GC that leaves a large heap, and back once it is small', async () => {
  const flags: string[] = [];
  const changes: number[] = [];
  const policy = startHeapGrowthPolicy(
    (p) => changes.push(p),
    (f) => flags.push(f),
  );
  try {
    // Hold ~300 MiB live across a full GC (arrays of 1 MiB of doubles).
    let hold: number[][] | null = Array.from({ length: 300 }, (_, i) =>
      new Array<number>(MiB / 8).fill(i + 0.5),
    );
    await fullGcObserved();
    assert.ok(hold.length === 300);
    assert.deepEqual(changes, [COMPACT_GROWING_PERCENT]);
    hold = null;
    await fullGcObserved();
    assert.deepEqual(changes, [COMPACT_GROWING_PERCENT, 0]);
    assert.deepEqual(flags, ['--heap-growing-percent=50', '--heap-growing-percent=0']);
  } finally {
    policy.stop();
  }
});

/** Forces a full GC and waits for observers to hear of it (gc entries are delivered asynchronously). */
async function fullGcObserved(): Promise<void> {
  v8.setFlagsFromString('--expose-gc');
  const gc = (await import('node:vm')).runInNewContext('gc') as () => void;
  gc();
  await new Promise((r) => setTimeout(r, 50));
}
