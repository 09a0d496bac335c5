import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runNodeSeed } from './node-sim.ts';

test('the node-loop simulation holds every property on a handful of seeds, with faults in the persist window', async () => {
  const total = { acked: 0, reads: 0, crashes: 0, snapshots: 0 };
  for (let seed = 1; seed <= 8; seed++) {
    const r = await runNodeSeed({ seed, steps: 3000 });
    assert.deepEqual(
      r.violations,
      [],
      `seed ${seed}: ${JSON.stringify(r.violations)}\n${r.trace.join('\n')}`,
    );
    total.acked += r.stats.acked;
    total.reads += r.stats.reads;
    total.crashes += r.stats.crashes;
    total.snapshots += r.stats.snapshots;
  }
  // Not a vacuous pass: writes were acknowledged, reads answered, members crashed, snapshots sent.
  assert.ok(
    total.acked > 100 && total.reads > 50 && total.crashes > 20 && total.snapshots > 0,
    JSON.stringify(total),
  );
});

test('the same seed gives the same run', async () => {
  const a = await runNodeSeed({ seed: 12, steps: 2000 });
  const b = await runNodeSeed({ seed: 12, steps: 2000 });
  assert.equal(a.fingerprint, b.fingerprint);
  assert.deepEqual(a.stats, b.stats);
  const c = await runNodeSeed({ seed: 13, steps: 2000 });
  assert.notEqual(a.fingerprint, c.fingerprint);
});
