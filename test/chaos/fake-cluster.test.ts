// End-to-end plumbing test: the real runner against the in-memory fake server
// (loopback, no root needed). The correct fake must pass, the fake with the
// stale-read bug must be caught.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions } from './options.ts';
import { runChaos } from './runner/run.ts';

const quiet = (): void => {};

describe('chaos runner against the fake server', () => {
  test('correct fake under kill -9 is linearizable and makes progress', async () => {
    const options = parseOptions(
      [
        '--fake',
        '--net',
        'loopback',
        '--nemesis',
        'kill',
        '--seconds',
        '6',
        '--nodes',
        '3',
        '--base-port',
        '27300',
        '--seed',
        '7',
      ],
      quiet,
    );
    const summary = await runChaos(options);
    assert.equal(summary.verdict, 'linearizable', summary.text);
    assert.ok(summary.ackedWrites > 20, summary.text);
    assert.ok((summary.faults.get('kill') ?? 0) >= 1, summary.text);
    assert.match(summary.text, /chaos: linearizable$/);
  });

  test('fake with the stale-read bug is reported as a violation', async () => {
    const options = parseOptions(
      [
        '--fake',
        '--net',
        'loopback',
        '--nemesis',
        'none',
        '--seconds',
        '5',
        '--nodes',
        '3',
        '--base-port',
        '27310',
        '--seed',
        '8',
        '--bug',
        'stale-reads',
      ],
      quiet,
    );
    const summary = await runChaos(options);
    assert.equal(summary.verdict, 'VIOLATION', summary.text);
    assert.ok(
      summary.check?.keys.some((k) => k.verdict === 'violation'),
      'the linearizability checker itself must flag a key',
    );
    assert.match(summary.text, /NOT linearizable/);
    assert.match(summary.text, /chaos: VIOLATION$/);
  });
});
