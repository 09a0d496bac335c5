import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MessageType, type Message } from '../types.ts';
import { runSeed } from './simulation.ts';

/** Candidates claim an unbeatable log, so voters grant votes to stale logs (§5.4.1 broken from outside). */
function lieAboutLog(m: Message): Message {
  if (m.type === MessageType.Vote || m.type === MessageType.PreVote)
    return { ...m, index: 1e9, logTerm: 1e9 };
  return m;
}

describe('randomized simulation', () => {
  test('20 seeds keep every safety property and make progress after healing', () => {
    const failures: string[] = [];
    let committed = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const r = runSeed({ seed });
      committed += r.stats.committed;
      for (const v of r.violations) failures.push(`seed ${seed}: ${v.property}: ${v.detail}`);
    }
    assert.deepEqual(failures, []);
    // The run did real work, not an idle cluster.
    assert.ok(committed > 20 * 50, `only ${committed} entries committed over 20 seeds`);
  });

  test('the same seed replays the same run', () => {
    const a = runSeed({ seed: 7, steps: 200 });
    const b = runSeed({ seed: 7, steps: 200 });
    assert.deepEqual(a.stats, b.stats);
  });

  test('granting votes to stale logs is caught, with a trace of the events before', () => {
    const caught = [];
    for (let seed = 1; seed <= 20; seed++) {
      const r = runSeed({ seed, mutateMessage: lieAboutLog, traceSize: 20 });
      if (r.violations.length > 0) caught.push(r);
    }
    assert.ok(caught.length > 0, 'no seed noticed votes granted to stale logs');
    const properties = new Set(caught.flatMap((r) => r.violations.map((v) => v.property)));
    assert.ok(properties.has('Leader Completeness'), [...properties].join(', '));
    const first = caught[0]!;
    assert.ok(first.trace.length > 0 && first.trace.length <= 20);
    assert.match(first.trace.join('\n'), /VIOLATION/);
  });
});
