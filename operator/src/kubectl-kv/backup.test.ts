import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KVCluster } from '../types.ts';
import { parseArgs, USAGE } from './main.ts';
import { BACKUP_RESTORE_OPTIONS } from './backup-args.ts';
import { backupObject, backupOutcome, defaultBackupName } from './backup.ts';
import { restoreObject } from './restore.ts';

void describe('kubectl kv backup|restore arguments', () => {
  test('backup: name, wait, its timeout', () => {
    const a = parseArgs(['backup', 'src', '-n', 'apps']);
    assert.deepEqual(a.backup, { wait: false, waitTimeoutMs: 600_000 });
    const w = parseArgs([
      'backup',
      'src',
      '--name',
      'nightly-1',
      '--wait',
      '--wait-timeout',
      '2m',
      '-o',
      'json',
    ]);
    assert.deepEqual(w.backup, { name: 'nightly-1', wait: true, waitTimeoutMs: 120_000 });
    assert.equal(w.output, 'json');
  });
  test('restore: from a cluster or a URL, a target, overrides; --dry-run prints yaml by default', () => {
    const r = parseArgs([
      'restore',
      'copy',
      '--from',
      'src',
      '--to-time',
      '2026-12-01T10:00:00Z',
      '--dry-run',
    ]);
    assert.equal(r.cluster, 'copy');
    assert.deepEqual(r.restore, { from: 'src', toTime: '2026-12-01T10:00:00Z', dryRun: true });
    assert.equal(r.output, 'yaml');
    const u = parseArgs([
      'restore',
      'copy',
      '--from=s3://bkt/src',
      '--to-index',
      '42',
      '--endpoint',
      'http://minio:9000',
      '--credentials-secret',
      's3-creds',
      '--root-secret',
      'src-root',
      '--region',
      'eu-1',
      '--replicas',
      '5',
    ]);
    assert.deepEqual(u.restore, {
      from: 's3://bkt/src',
      toIndex: 42,
      endpoint: 'http://minio:9000',
      credentialsSecret: 's3-creds',
      rootSecret: 'src-root',
      region: 'eu-1',
      replicas: 5,
      dryRun: false,
    });
    assert.equal(u.output, 'text');
    assert.equal(parseArgs(['restore', 'c', '--from', 'src', '--dry-run', '-o', 'json']).output, 'json');
  });
  for (const [argv, message] of [
    [['backup', 'a', '--to-time', '2026-12-01T10:00:00Z'], /--to-time is only for restore/],
    [['status', 'a', '--wait'], /--wait is only for backup/],
    [['backup', 'a', '--wait-timeout', '1m'], /--wait-timeout needs --wait/],
    [['backup', 'a', '--name', 'Bad_Name'], /not a valid object name/],
    [['backup', 'a', '-o', 'yaml'], /-o yaml is only for restore --dry-run/],
    [['restore', 'a'], /restore needs --from/],
    [['restore', 'a', '--from', 'src', '--to-time', 'yesterday'], /not an RFC 3339 time/],
    [['restore', 'a', '--from', 'src', '--to-index', '0'], /not a positive Raft index/],
    [['restore', 'a', '--from', 'src', '--to-index', '5', '--to-time', '2026-12-01T10:00:00Z'], /not both/],
    [['restore', 'a', '--from', 's3://bkt/p'], /needs --credentials-secret/],
    [['restore', 'a', '--from', 's3://B/p', '--credentials-secret', 'c'], /is not s3:\/\/BUCKET/],
    [['restore', 'a', '--from', 'src', '--endpoint', 'minio:9000'], /is not http\(s\):\/\/host/],
    [['restore', 'a', '--from', 'src', '--replicas', 'three'], /not a member count/],
    [['restore', 'a', '--from', 'src', '--dry-run', '-o', 'text'], /prints yaml or json/],
    [['recover', 'a', '--from', 'a-0', '--dry-run'], /--dry-run is only for restore/],
    [['status', 'a', '--from', 'x'], /--from for recover and restore/],
  ] as [string[], RegExp][]) {
    test(`refuses ${JSON.stringify(argv)}`, () => assert.throws(() => parseArgs(argv), message));
  }
});

void test('--help lists backup and restore and each of their options', () => {
  assert.match(USAGE, /^ {2}backup CLUSTER /m);
  assert.match(USAGE, /^ {2}restore NEW --from SOURCE/m);
  for (const option of Object.keys(BACKUP_RESTORE_OPTIONS)) assert.ok(USAGE.includes(option), option);
});

void describe('kubectl kv backup objects', () => {
  test('the KVBackup, its default name, and what its status prints', () => {
    assert.equal(defaultBackupName('src', new Date('2026-12-01T20:15:07.123Z')), 'src-20261201-201507');
    assert.deepEqual(backupObject('apps', 'src', 'b1'), {
      apiVersion: 'kvstore.io/v1alpha1',
      kind: 'KVBackup',
      metadata: {
        name: 'b1',
        namespace: 'apps',
        labels: { 'app.kubernetes.io/instance': 'src', 'app.kubernetes.io/created-by': 'kubectl-kv' },
      },
      spec: { cluster: 'src' },
    });
    assert.deepEqual(backupOutcome('b1', undefined), { done: false, ok: false, line: 'kvbackup/b1 Pending' });
    assert.equal(
      backupOutcome('b1', { phase: 'Running', message: 'taking a full snapshot' }).line,
      'kvbackup/b1 Running: taking a full snapshot',
    );
    assert.deepEqual(
      backupOutcome('b1', {
        phase: 'Completed',
        index: 77,
        size: 1234,
        keys: 61,
        object: 's3://b/src/snapshots/x.snap',
      }),
      {
        done: true,
        ok: true,
        line: 'kvbackup/b1 Completed: index 77, 1234 bytes, 61 keys, s3://b/src/snapshots/x.snap',
      },
    );
    const failed = backupOutcome('b1', { phase: 'Failed', message: 'no spec.backup' });
    assert.equal(failed.done && !failed.ok, true);
    assert.match(failed.line, /Failed: no spec.backup/);
  });
});

void describe('kubectl kv restore objects', () => {
  const source = {
    apiVersion: 'kvstore.io/v1alpha1',
    kind: 'KVCluster',
    metadata: { name: 'src', namespace: 'apps', uid: 'u1' },
    spec: {
      replicas: 5,
      image: 'kv-store:0.2.0',
      tls: { enabled: true, certificateDuration: '720h' },
      auth: {
        users: [{ name: 'app', passwordSecretRef: { name: 'app-pw', key: 'password' }, roles: ['rw'] }],
      },
      storage: { size: '5Gi' },
      backup: {
        destination: { url: 's3://bkt/src', endpoint: 'http://minio:9000', credentialsSecret: 's3-creds' },
        fullSnapshotSchedule: '0 * * * *',
        retention: { keepFull: 3 },
      },
    },
    status: { secrets: { root: 'src-root', caBundle: 'src-ca-bundle' } },
  } as unknown as KVCluster;

  test('from a KVCluster: its bucket, credentials, TLS, auth, image, storage and root Secret; never its spec.backup', () => {
    const p = restoreObject(
      'copy',
      'apps',
      { from: 'src', toTime: '2026-12-01T10:00:00Z', dryRun: true },
      source,
    );
    assert.deepEqual(p.object, {
      apiVersion: 'kvstore.io/v1alpha1',
      kind: 'KVCluster',
      metadata: { name: 'copy', namespace: 'apps', labels: { 'kvstore.io/restored-from': 'src' } },
      spec: {
        image: 'kv-store:0.2.0',
        storage: { size: '5Gi' },
        tls: { enabled: true, certificateDuration: '720h' },
        auth: source.spec.auth,
        replicas: 5,
        bootstrap: {
          recovery: {
            source: { url: 's3://bkt/src', endpoint: 'http://minio:9000', credentialsSecret: 's3-creds' },
            targetTime: '2026-12-01T10:00:00Z',
            rootSecret: 'src-root',
          },
        },
      },
    });
    assert.match(p.notes.join('\n'), /spec.backup is not copied/);
    // Overrides, and a source with auth off has no root Secret to pass.
    const off = {
      ...source,
      spec: { ...source.spec, auth: { enabled: false } },
      status: {},
    } as unknown as KVCluster;
    const o = restoreObject(
      'copy',
      'apps',
      {
        from: 'src',
        toIndex: 9,
        endpoint: 'http://other:9000',
        credentialsSecret: 'other',
        replicas: 1,
        dryRun: false,
      },
      off,
    );
    const spec = o.object.spec as { replicas: number; bootstrap: { recovery: Record<string, unknown> } };
    assert.equal(spec.replicas, 1);
    assert.deepEqual(spec.bootstrap.recovery, {
      source: { url: 's3://bkt/src', endpoint: 'http://other:9000', credentialsSecret: 'other' },
      targetIndex: 9,
    });
    assert.equal(
      (source.spec.backup!.destination as { endpoint?: string }).endpoint,
      'http://minio:9000',
      'source untouched',
    );
  });

  test('from a URL; a source without spec.backup or the same name is refused', () => {
    const p = restoreObject(
      'copy',
      'apps',
      { from: 's3://bkt/old', credentialsSecret: 'c', dryRun: true },
      null,
    );
    assert.deepEqual(p.object.spec, {
      bootstrap: { recovery: { source: { url: 's3://bkt/old', credentialsSecret: 'c' } } },
    });
    assert.match(p.notes[0] ?? '', /no --root-secret/);
    const bare = { ...source, spec: { replicas: 3 } } as unknown as KVCluster;
    assert.throws(
      () => restoreObject('copy', 'apps', { from: 'src', dryRun: true }, bare),
      /has no spec.backup/,
    );
    assert.throws(() => restoreObject('src', 'apps', { from: 'src', dryRun: true }, source), /NEW cluster/);
  });
});
