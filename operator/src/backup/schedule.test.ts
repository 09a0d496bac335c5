import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadYaml } from '@kubernetes/client-node';
import { withDefaults } from '../types.ts';
import { backupArgs } from '../specs/backup.ts';
import { kvcluster } from '../specs/fixture.test-helper.ts';
import type { KVClusterSpec } from '../types.ts';
import { parseCron } from './cron.generated.ts';
import { fullSnapshotPlan } from './schedule.ts';

const destination = { url: 's3://bkt/demo/', credentialsSecret: 's3' };
const flag = (args: string[], name: string) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const argsOf = (backup: Record<string, unknown>) =>
  backupArgs(kvcluster({ backup: { destination, ...backup } as unknown as KVClusterSpec['backup'] }));

test('a schedule replaces the interval; neither gives the 1h interval', () => {
  assert.equal(flag(argsOf({}), '-backup-full-interval'), '1h');
  const scheduled = argsOf({ fullSnapshotSchedule: '0 */6 * * *' });
  assert.equal(flag(scheduled, '-backup-full-schedule'), '0 */6 * * *');
  assert.ok(!scheduled.includes('-backup-full-interval'));
  assert.equal(
    withDefaults({ backup: { destination, fullSnapshotSchedule: '@daily' } } as never).backup
      ?.fullSnapshotInterval,
    undefined,
  );
  assert.equal(flag(argsOf({ retention: { keepFull: 3, keepDays: 14 } }), '-backup-keep-age'), '336h');
  assert.equal(flag(argsOf({ retention: { keepFull: 3, keepDays: 14 } }), '-backup-keep-full'), '3');
  assert.ok(!argsOf({}).includes('-backup-keep-age'));
});

test('a refused schedule leaves the members on the interval (same flags: nothing rolls) and says why', () => {
  const both = fullSnapshotPlan({ fullSnapshotInterval: '30m', fullSnapshotSchedule: '0 * * * *' });
  assert.deepEqual(both.plan, { kind: 'interval', interval: '30m' });
  assert.match(both.problem ?? '', /mutually exclusive: remove one \(full snapshots every 30m until then\)/);
  const bad = fullSnapshotPlan({ fullSnapshotSchedule: '30-10 * * * *' });
  assert.deepEqual(bad.plan, { kind: 'interval', interval: '1h' });
  assert.match(
    bad.problem ?? '',
    /"30-10 \* \* \* \*" is refused: minute field "30-10": range 30-10 runs backwards/,
  );
  assert.deepEqual(argsOf({ fullSnapshotSchedule: '30-10 * * * *' }), argsOf({}));
  assert.equal(fullSnapshotPlan({ fullSnapshotSchedule: '15 3 * * MON' }).problem, null);
});

test('the CRD pattern takes what the parser takes and refuses out-of-range fields', () => {
  interface S {
    properties?: Record<string, S>;
    pattern?: string;
  }
  const crd = loadYaml<{ spec: { versions: { schema: { openAPIV3Schema: S } }[] } }>(
    readFileSync(
      path.resolve(import.meta.dirname, '../../../manifests/crd/kvclusters.kvstore.io.yaml'),
      'utf8',
    ),
  );
  const text =
    crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.spec?.properties?.backup?.properties
      ?.fullSnapshotSchedule?.pattern;
  assert.ok(text !== undefined, 'the CRD has a pattern for fullSnapshotSchedule');
  const pattern = new RegExp(text);
  const good = [
    '0 * * * *',
    '*/15 * * * *',
    '0 0 * * 0',
    '5,35 1-5/2 * * *',
    '0 8 * * MON-FRI',
    '0 0 1 JAN,jul *',
    '@daily',
    '@hourly',
    '59 23 31 12 7',
    ' 0 0 * * * ',
  ];
  for (const s of good) {
    assert.ok(pattern.test(s), `CRD takes "${s}"`);
    assert.doesNotThrow(() => parseCron(s), s);
  }
  const bad = [
    '0 * * *',
    '60 * * * *',
    '0 24 * * *',
    '0 0 0 * *',
    '0 0 32 * *',
    '0 0 * 13 *',
    '0 0 * * 8',
    '0 0 * * * *',
    '@every 5m',
    'x * * * *',
    '',
  ];
  for (const s of bad) {
    assert.ok(!pattern.test(s), `CRD refuses "${s}"`);
    assert.throws(() => parseCron(s), s);
  }
});
