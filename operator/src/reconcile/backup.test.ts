import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BackupSpec, NodeBackupStatus } from '../backup/types.ts';
import type { KVCluster } from '../types.ts';
import { backupCondition, backupPartOf, backupStatusOf, recoveryEvent, recoveryStatusOf } from './backup.ts';

const spec: BackupSpec = {
  destination: { url: 's3://bkt/demo/', credentialsSecret: 's3' },
  fullSnapshotInterval: '1h',
  retention: { keepFull: 7 },
  rpo: '10s',
};
const NOW = Date.parse('2026-12-01T12:00:00Z');
const healthy: NodeBackupStatus = {
  uploading: true,
  rpoMs: 10_000,
  fullEveryMs: 3_600_000,
  archivedIndex: 120,
  archivedTime: NOW - 2000,
  lagEntries: 3,
  lagSeconds: 1.2,
  lastFullSnapshot: {
    index: 100,
    takenAt: NOW - 600_000,
    key: 'demo/snapshots/0000000000000064.snap',
    bytes: 10,
    keys: 4,
  },
  lastSuccessAt: NOW - 1000,
  consecutiveFailures: 0,
  lastError: null,
};
const reason = (b: NodeBackupStatus | undefined, s = spec) =>
  backupCondition(s, { ...(b ? { backup: b } : {}) }, NOW)?.reason;

void test('BackupHealthy: true while archiving within the RPO with a recent full snapshot', () => {
  const c = backupCondition(spec, { backup: healthy }, NOW)!;
  assert.equal(c.status, 'True');
  assert.match(c.message, /archived up to index 120/);
  assert.equal(backupCondition(undefined, { backup: healthy }, NOW), null, 'no spec.backup: no condition');
  assert.equal(backupCondition(spec, null, NOW)?.status, 'Unknown');
});

void test('BackupHealthy: false for each way archiving goes wrong', () => {
  assert.equal(reason(undefined), 'NotArchiving');
  assert.equal(reason({ ...healthy, uploading: false }), 'Starting');
  assert.equal(reason({ ...healthy, lagSeconds: 20.5 }), 'Lagging');
  assert.equal(reason({ ...healthy, lagSeconds: 19.9 }), 'Archiving', 'within two RPOs');
  assert.equal(
    reason({ ...healthy, consecutiveFailures: 3, lastSuccessAt: NOW - 30_000, lastError: 'segment: 503' }),
    'UploadsFailing',
  );
  assert.equal(
    reason({ ...healthy, consecutiveFailures: 1, lastSuccessAt: NOW - 2000 }),
    'Archiving',
    'one failure just after a success is a retry, not a failure',
  );
  assert.equal(reason({ ...healthy, lastFullSnapshot: null }), 'FullSnapshotOverdue');
  assert.equal(
    reason({ ...healthy, lastFullSnapshot: { ...healthy.lastFullSnapshot!, takenAt: NOW - 3 * 3_600_000 } }),
    'FullSnapshotOverdue',
  );
});

void test('status.backup: from the leader, with the object URL; kept while no leader reports', () => {
  const s = backupStatusOf(spec, { backup: healthy }, undefined)!;
  assert.deepEqual(s, {
    archivedIndex: 120,
    archivedTime: new Date(NOW - 2000).toISOString(),
    lagSeconds: 1.2,
    lastFullSnapshot: {
      index: 100,
      time: new Date(NOW - 600_000).toISOString(),
      object: 's3://bkt/demo/snapshots/0000000000000064.snap',
    },
  });
  assert.equal(backupStatusOf(spec, null, s), s);
  assert.equal(backupStatusOf(undefined, { backup: healthy }, s), undefined);
  const failing = backupStatusOf(spec, { backup: { ...healthy, lastError: 'segment: boom' } }, s)!;
  assert.equal(failing.lastError, 'segment: boom');
});

void test('status.recovery: taken from the member that reports it, once; the event says what was restored', () => {
  const info = {
    source: 's3://bkt/src/',
    target: 'time 2026-12-01T11:00:00.000Z',
    index: 77,
    term: 3,
    keys: 42,
    pointInTime: '2026-12-01T10:59:59.500Z',
    clusterId: 'abc',
    restoredAt: '2026-12-01T12:00:00.000Z',
  };
  const r = recoveryStatusOf([undefined, info], undefined)!;
  assert.equal(r.index, 77);
  assert.equal(r.keys, 42);
  assert.equal(recoveryStatusOf([undefined], undefined), undefined);
  assert.equal(recoveryStatusOf([{ ...info, index: 1 }], r), r, 'kept once recorded');
  assert.match(recoveryEvent(undefined, r)!, /restored 42 keys at index 77 .*2026-12-01T10:59:59.500Z/);
  assert.equal(recoveryEvent(r, r), null);
});

void test('BackupHealthy with a schedule: overdue after two of its longest gaps; a refused schedule is InvalidSchedule, warned once', () => {
  const { fullSnapshotInterval: _interval, ...noInterval } = spec;
  // Weekdays at 02:00: the longest gap is Friday to Monday (3 days), so 4 days is not overdue.
  const weekdays: BackupSpec = { ...noInterval, fullSnapshotSchedule: '0 2 * * 1-5' };
  const snapshotAt = (ms: number) => ({
    ...healthy,
    lastFullSnapshot: { ...healthy.lastFullSnapshot!, takenAt: NOW - ms },
  });
  assert.equal(reason(snapshotAt(4 * 86_400_000), weekdays), 'Archiving');
  assert.equal(reason(snapshotAt(6.1 * 86_400_000), weekdays), 'FullSnapshotOverdue');
  assert.equal(reason(snapshotAt(4 * 86_400_000)), 'FullSnapshotOverdue', 'the 1h interval');
  const bad: BackupSpec = { ...noInterval, fullSnapshotSchedule: '0 5-1 * * *' };
  const c = backupCondition(bad, { backup: healthy }, NOW)!;
  assert.equal(c.status, 'False');
  assert.equal(c.reason, 'InvalidSchedule');
  assert.match(c.message, /hour field "5-1": range 5-1 runs backwards/);
  assert.equal(backupCondition(bad, null, NOW)?.reason, 'InvalidSchedule', 'even without a leader');

  const kv = {
    apiVersion: 'kvstore.io/v1alpha1',
    kind: 'KVCluster',
    metadata: { name: 'demo', namespace: 'ns', uid: 'u1', generation: 2 },
    spec: { backup: bad },
  } as unknown as KVCluster;
  const first = backupPartOf(kv, { backup: healthy }, [], new Date(NOW));
  assert.match(first.warning ?? '', /runs backwards/, 'an event when the schedule is first refused');
  const again = backupPartOf(
    { ...kv, status: { conditions: first.conditions } },
    { backup: healthy },
    [],
    new Date(NOW + 5000),
  );
  assert.equal(again.warning, null, 'not again while the condition says so');
  assert.equal(
    backupPartOf(
      { ...kv, spec: { backup: spec } } as unknown as KVCluster,
      { backup: healthy },
      [],
      new Date(NOW),
    ).warning,
    null,
  );
});
