// The suite against the real node (loopback, no root needed; skipped until
// node/bin/kv-store.js exists): a quiet cluster must be linearizable, and the
// node's unsafe-local-reads debug switch must be caught.
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NODE_SCRIPT, parseOptions } from './options.ts';
import { runChaos } from './runner/run.ts';

const quiet = (): void => {};
const skip = existsSync(NODE_SCRIPT) ? false : 'node/bin/kv-store.js not built';

describe('chaos runner against the real node', { skip }, () => {
  test('quiet 3-node cluster is linearizable', async () => {
    const options = parseOptions(
      [
        '--net',
        'loopback',
        '--nemesis',
        'none',
        '--seconds',
        '6',
        '--nodes',
        '3',
        '--base-port',
        '27400',
        '--seed',
        '1',
      ],
      quiet,
    );
    const summary = await runChaos(options);
    assert.equal(summary.verdict, 'linearizable', summary.text);
    assert.ok(summary.ackedWrites > 50, summary.text);
  });

  test('--secure: the same over client TLS, peer mTLS and auth (clients by certificate and token)', async () => {
    const options = parseOptions(
      ['--net', 'loopback', '--nemesis', 'none', '--seconds', '6', '--nodes', '3'].concat([
        '--base-port',
        '27420',
        '--seed',
        '3',
        '--secure',
      ]),
      quiet,
    );
    const summary = await runChaos(options);
    assert.equal(summary.verdict, 'linearizable', summary.text);
    assert.match(summary.text, /^TLS \+ auth; /m);
    assert.ok(summary.ackedWrites > 50, summary.text);
    // Both kinds of client got through the auth gate: by certificate and by token.
    assert.ok((summary.okByCaller.certificate ?? 0) > 20, JSON.stringify(summary.okByCaller));
    assert.ok((summary.okByCaller.token ?? 0) > 20, JSON.stringify(summary.okByCaller));
  });

  test('KVSTORE_DEBUG_UNSAFE_LOCAL_READS=1 is reported as a violation', async () => {
    const options = parseOptions(
      [
        '--net',
        'loopback',
        '--nemesis',
        'none',
        '--seconds',
        '8',
        '--nodes',
        '3',
        '--base-port',
        '27410',
        '--seed',
        '2',
        '--bug',
        'stale-reads',
      ],
      quiet,
    );
    const summary = await runChaos(options);
    assert.equal(summary.verdict, 'VIOLATION', summary.text);
    assert.ok(
      summary.check?.keys.some((k) => k.verdict === 'violation'),
      summary.text,
    );
  });
});
