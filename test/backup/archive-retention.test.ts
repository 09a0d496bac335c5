// Retention and schedules of continuous archiving, against a real MinIO with real processes:
// keep-full and keep-age retention (what is deleted, and that points in the window still
// restore), an object-lock bucket, and -backup-full-schedule across a leader restart.
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  ListObjectVersionsCommand,
  PutObjectLockConfigurationCommand,
} from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ProcCluster, freePort, http, sleep, waitFor } from '../integration/harness.ts';
import { kvctl } from '../integration/backup-writer.ts';
import { startMinio, type Minio } from './minio.ts';
import { listArchive } from '../../node/src/backup/archive-reader.ts';
import { ObjectStore } from '../../node/src/backup/s3.ts';

const BUCKET = 'kvstore-retention';

async function metric(url: string, name: string): Promise<string[]> {
  const text = (await http('GET', `${url}/metrics`)).body as string;
  return text.split('\n').filter((l) => l.startsWith(name));
}

describe('archive retention and schedules (real MinIO)', { timeout: 600_000 }, () => {
  let minio: Minio;
  const restored: ProcCluster[] = [];
  before(async () => {
    minio = await startMinio();
    await minio.createBucket(BUCKET);
    Object.assign(process.env, minio.env);
  });
  after(async () => {
    for (const c of restored) await c.close();
    await minio?.stop();
  });

  test('retention keeps the newest full snapshots and the segments a restore from them needs', async () => {
    const prefix = 'retention';
    const c = new ProcCluster(minio.env);
    restored.push(c);
    const port = await freePort();
    c.define('k1', port, [
      '-addr',
      `127.0.0.1:${port}`,
      '-backup-s3-url',
      `s3://${BUCKET}/${prefix}`,
      '-backup-s3-endpoint',
      minio.endpoint,
      '-backup-rpo',
      '1s',
      '-backup-full-interval',
      '1s',
      '-backup-keep-full',
      '2',
    ]);
    c.spawn('k1');
    await c.waitForLeader();
    const url = c.node('k1').url;
    for (let i = 0; i < 40; i++) {
      assert.equal((await http('PUT', `${url}/v1/kv/r${i}`, { value: `v${i}` })).status, 200);
      await sleep(150);
    }
    await sleep(2500);
    const store = new ObjectStore({ bucket: BUCKET, prefix: `${prefix}/`, endpoint: minio.endpoint });
    const archive = await listArchive(store);
    store.destroy();
    assert.ok(
      archive.snapshots.length >= 2 && archive.snapshots.length <= 3,
      `snapshots kept: ${archive.snapshots.map((x) => x.index).join(',')}`,
    );
    const oldest = archive.snapshots[0]!.index;
    assert.ok(
      archive.segments.every((x) => x.last > oldest - 1),
      'no segment from before the oldest kept snapshot',
    );
    const deleted = await metric(url, 'kvstore_backup_uploads_total');
    console.log(
      `retention: kept snapshots ${archive.snapshots.map((x) => x.index).join(', ')}; ${archive.segments.length} segments; ${deleted.join(', ')}`,
    );
    await c.close();
    const r = await kvctl(
      [
        'restore',
        '--from',
        `s3://${BUCKET}/${prefix}`,
        '--data-dir',
        join(minio.root, 'ret'),
        '--id',
        'k1',
        '--peers',
        '',
        '--addr',
        '127.0.0.1:1',
        '--s3-endpoint',
        minio.endpoint,
        '-o',
        'json',
      ],
      minio.env,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { keys: number }).keys, 40);
  });

  test('retention by age (-backup-keep-age) keeps what restores to the window need and deletes older snapshots', async () => {
    const prefix = 'age';
    const windowMs = 5000;
    const c = new ProcCluster(minio.env);
    restored.push(c);
    const port = await freePort();
    c.define('g1', port, [
      '-addr',
      `127.0.0.1:${port}`,
      '-backup-s3-url',
      `s3://${BUCKET}/${prefix}`,
      '-backup-s3-endpoint',
      minio.endpoint,
      '-backup-rpo',
      '1s',
      '-backup-full-interval',
      '1s',
      // keepFull 1 alone would leave one snapshot: the others are kept by age.
      '-backup-keep-full',
      '1',
      '-backup-keep-age',
      `${windowMs}ms`,
    ]);
    c.spawn('g1');
    await c.waitForLeader();
    const url = c.node('g1').url;
    const store = new ObjectStore({ bucket: BUCKET, prefix: `${prefix}/`, endpoint: minio.endpoint });
    const snapshots = async () =>
      (await store.list('snapshots/')).sort((a, b) => a.lastModified - b.lastModified);
    const writes: { key: string; sentAt: number; ackedAt: number }[] = [];
    let early: string[] = [];
    const t0 = Date.now();
    for (let i = 0; Date.now() - t0 < 14_000; i++) {
      const sentAt = Date.now();
      assert.equal((await http('PUT', `${url}/v1/kv/g${i}`, { value: `v${i}` })).status, 200);
      writes.push({ key: `g${i}`, sentAt, ackedAt: Date.now() });
      if (early.length === 0 && Date.now() - t0 > 3000) early = (await snapshots()).map((o) => o.key);
      await sleep(100);
    }
    await sleep(1500);
    // Stopped, so retention's last window ended at or before now.
    await c.close();
    const checkedAt = Date.now();
    const kept = await snapshots();
    const newest = kept.at(-1)!.lastModified;
    console.log(
      `retention by age: ${kept.length} snapshots kept, uploaded ${kept.map((o) => ((checkedAt - o.lastModified) / 1000).toFixed(1)).join(', ')} s ago; ` +
        `${early.filter((k) => !kept.some((o) => o.key === k)).length} of the ${early.length} first ones deleted`,
    );
    assert.ok(early.length >= 2, `snapshots in the first 3 s: ${early.length}`);
    assert.ok(kept.length >= 3, `kept by age: ${kept.length}`);
    // Retention last ran at or after the newest upload: at most one kept snapshot predates its window.
    assert.ok(
      kept.filter((o) => o.lastModified < newest - windowMs).length <= 1,
      "only the window's base is older",
    );
    assert.ok(!kept.some((o) => o.key === early[0]), `the first snapshot ${early[0]} was deleted`);
    // A point inside the window restores: every write acknowledged before it, none sent after it.
    const target = checkedAt - windowMs + 500;
    const r = await kvctl(
      [
        'restore',
        '--from',
        `s3://${BUCKET}/${prefix}`,
        '--to-time',
        new Date(target).toISOString(),
        '--data-dir',
        join(minio.root, 'age'),
        '--id',
        'g1',
        '--peers',
        '',
        '--addr',
        '127.0.0.1:1',
        '--s3-endpoint',
        minio.endpoint,
        '-o',
        'json',
      ],
      minio.env,
    );
    assert.equal(r.code, 0, r.stderr);
    const keys = (JSON.parse(r.stdout) as { keys: number }).keys;
    const acked = writes.filter((w) => w.ackedAt <= target).length;
    const sent = writes.filter((w) => w.sentAt <= target).length;
    assert.ok(
      keys >= acked && keys <= sent,
      `restored ${keys} keys; acknowledged before: ${acked}, sent before: ${sent}`,
    );
    store.destroy();
  });

  test('an object-lock bucket: write-once objects, retention leaves delete markers over locked versions, the archive restores', async () => {
    const bucket = 'kvstore-locked';
    await minio.client.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
    await minio.client.send(
      new PutObjectLockConfigurationCommand({
        Bucket: bucket,
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 1 } },
        },
      }),
    );
    const c = new ProcCluster(minio.env);
    restored.push(c);
    const port = await freePort();
    c.define('l1', port, [
      '-addr',
      `127.0.0.1:${port}`,
      '-backup-s3-url',
      `s3://${bucket}/lock`,
      '-backup-s3-endpoint',
      minio.endpoint,
      '-backup-rpo',
      '1s',
      '-backup-full-interval',
      '1s',
      '-backup-keep-full',
      '1',
    ]);
    c.spawn('l1');
    await c.waitForLeader();
    const url = c.node('l1').url;
    for (let i = 0; i < 30; i++) {
      assert.equal((await http('PUT', `${url}/v1/kv/l${i}`, { value: `v${i}` })).status, 200);
      await sleep(100);
    }
    await sleep(2500);
    const failures = await metric(url, 'kvstore_backup_upload_failures_total');
    await c.close();
    const versions = await minio.client.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'lock/snapshots/' }),
    );
    const store = new ObjectStore({ bucket, prefix: 'lock/', endpoint: minio.endpoint });
    const visible = await store.list('snapshots/');
    store.destroy();
    console.log(
      `object lock: ${visible.length} snapshot(s) visible, ${versions.Versions?.length ?? 0} locked versions, ` +
        `${versions.DeleteMarkers?.length ?? 0} delete markers; failures: ${failures.join(', ') || 'none'}`,
    );
    assert.ok(visible.length <= 2, `keep-full 1: ${visible.length} visible`);
    assert.ok((versions.DeleteMarkers?.length ?? 0) >= 1, 'retention deleted (as delete markers)');
    assert.ok(
      (versions.Versions?.length ?? 0) > visible.length,
      'the locked versions stay until their retention ends',
    );
    assert.ok(!failures.some((l) => /kind="(segment|snapshot)"/.test(l)), failures.join('; '));
    const r = await kvctl(
      [
        'restore',
        '--from',
        `s3://${bucket}/lock`,
        '--data-dir',
        join(minio.root, 'lock'),
        '--id',
        'l1',
        '--peers',
        '',
        '--addr',
        '127.0.0.1:1',
        '--s3-endpoint',
        minio.endpoint,
        '-o',
        'json',
      ],
      minio.env,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { keys: number }).keys, 30);
  });

  test('-backup-full-schedule: a leader started after a missed firing takes it at once, and reports the schedule', async () => {
    const prefix = 'cron';
    const c = new ProcCluster(minio.env);
    restored.push(c);
    const port = await freePort();
    c.define('c1', port, [
      '-addr',
      `127.0.0.1:${port}`,
      '-backup-s3-url',
      `s3://${BUCKET}/${prefix}`,
      '-backup-s3-endpoint',
      minio.endpoint,
      '-backup-rpo',
      '1s',
      // Every minute: with the 1 h interval a restarted leader would wait an hour.
      '-backup-full-schedule',
      '* * * * *',
    ]);
    const store = new ObjectStore({ bucket: BUCKET, prefix: `${prefix}/`, endpoint: minio.endpoint });
    const snapshots = () => store.list('snapshots/');
    c.spawn('c1');
    await c.waitForLeader();
    assert.equal((await http('PUT', `${c.node('c1').url}/v1/kv/a`, { value: '1' })).status, 200);
    await waitFor(
      'the chain-start snapshot',
      async () => ((await snapshots()).length >= 1 ? true : undefined),
      20_000,
    );
    const status = (await c.status('c1')) as {
      backup: { fullSchedule: string; fullEveryMs: number; nextFullAt: number };
    };
    assert.equal(status.backup.fullSchedule, '* * * * *');
    assert.equal(status.backup.fullEveryMs, 60_000);
    assert.equal(status.backup.nextFullAt % 60_000, 0, 'a whole minute');
    await c.stop('c1');
    // Down across the next scheduled minute.
    const firing = Math.floor(Date.now() / 60_000) * 60_000 + 60_000;
    await sleep(firing - Date.now() + 1000);
    const before = await snapshots();
    c.spawn('c1');
    const restarted = Date.now();
    await c.waitForLeader();
    const missed = await waitFor(
      'the missed firing taken',
      async () => {
        const now = await snapshots();
        return now.find((o) => o.lastModified >= firing) ?? undefined;
      },
      20_000,
    );
    console.log(
      `schedule: firing ${new Date(firing).toISOString()} missed while down; taken ${((missed.lastModified - restarted) / 1000).toFixed(1)} s after the restart (${before.length} snapshot(s) before)`,
    );
    assert.ok(missed.lastModified < firing + 60_000, 'not waiting for the next firing');
    store.destroy();
    await c.close();
  });
});
