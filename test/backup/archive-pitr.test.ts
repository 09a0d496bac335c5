// Continuous archiving to a real MinIO and point-in-time restore, with real processes: a recorded
// writer runs while the leader is killed (-9) and later paused (SIGSTOP: the deposed leader wakes
// up still thinking it uploads); restores to several indexes and times, and to the latest point,
// each equal the replay of the acknowledged history up to the restored index; damaged and missing
// objects are refused. Prints the measured commit-to-archive delay (RPO).
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectLockConfigurationCommand,
} from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ProcCluster, freePort, http, sleep, waitFor } from '../integration/harness.ts';
import { RecordingWriter, kvctl, type Op } from '../integration/backup-writer.ts';
import { startMinio, type Minio } from './minio.ts';

// The restore's own chain logic, to name what a test removes.
import { chainSegments, listArchive } from '../../node/src/backup/archive-reader.ts';
import { ObjectStore } from '../../node/src/backup/s3.ts';

const BUCKET = 'kvstore-archive';
const PREFIX = 'pitr';

/** Every key of a member with its value and modifyIndex. */
async function dump(url: string): Promise<Map<string, { value: string; modifyIndex: number }>> {
  const r = await http('GET', `${url}/v1/kv/?recurse&limit=10000`, undefined, { timeoutMs: 15_000 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const items = (r.body as { items: { key: string; value: string; modifyIndex: number }[] }).items;
  return new Map(items.map((kv) => [kv.key, { value: kv.value, modifyIndex: kv.modifyIndex }]));
}

/**
 * Compares a restored state at `index` with the replay of the acknowledged writes up to it.
 * Writes whose outcome the writer could not know (sent to a member that was killed) may or may
 * not be in the log: a difference is accepted only where such a write explains it.
 */
function compare(
  got: Map<string, { value: string; modifyIndex: number }>,
  writer: RecordingWriter,
  index: number,
): { problems: string[]; explainedByUnknown: number } {
  const want = writer.stateAt(index);
  const unknownPut = new Set(
    writer.unknown.filter((w) => w.kind === 'put').map((w) => `${w.key}=${w.value}`),
  );
  const unknownDel = new Set(writer.unknown.filter((w) => w.kind === 'del').map((w) => w.key));
  const problems: string[] = [];
  let explained = 0;
  for (const [k, kv] of got) {
    if (kv.modifyIndex > index) problems.push(`${k} modified at ${kv.modifyIndex}, after ${index}`);
  }
  for (const [k, v] of want) {
    const g = got.get(k);
    if (g?.value === v) continue;
    if ((g && unknownPut.has(`${k}=${g.value}`)) || (!g && unknownDel.has(k))) explained++;
    else problems.push(`${k}: want ${v}, got ${g?.value ?? '(missing)'}`);
  }
  for (const [k, g] of got) {
    if (want.has(k)) continue;
    if (unknownPut.has(`${k}=${g.value}`)) explained++;
    else problems.push(`${k}: unexpected ${g.value} at ${g.modifyIndex}`);
  }
  return { problems, explainedByUnknown: explained };
}

async function metric(url: string, name: string): Promise<string[]> {
  const text = (await http('GET', `${url}/metrics`)).body as string;
  return text.split('\n').filter((l) => l.startsWith(name));
}

/** p-quantile upper bound from a Prometheus histogram's cumulative buckets (summed over members). */
function quantile(lines: string[], q: number): string {
  const buckets = new Map<number, number>();
  for (const l of lines) {
    const m = /_bucket\{le="([^"]+)"\} (\d+)/.exec(l);
    if (m)
      buckets.set(
        m[1] === '+Inf' ? Infinity : Number(m[1]),
        (buckets.get(m[1] === '+Inf' ? Infinity : Number(m[1])) ?? 0) + Number(m[2]),
      );
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  for (const [le, n] of sorted) if (n >= q * total) return le === Infinity ? '>60s' : `<=${le}s`;
  return 'n/a';
}

describe('archiving to S3 and point-in-time restore (real MinIO)', { timeout: 600_000 }, () => {
  let minio: Minio;
  let cluster: ProcCluster;
  const restored: ProcCluster[] = [];
  before(async () => {
    minio = await startMinio();
    await minio.createBucket(BUCKET);
    // The test's own reads of the bucket (the chain check below) use the same credentials.
    Object.assign(process.env, minio.env);
  });
  after(async () => {
    for (const c of restored) await c.close();
    await cluster?.close();
    await minio?.stop();
  });

  /** Restores with kvctl into a fresh single-member cluster, starts it, returns its state and the restore's answer. */
  async function restoreAndRead(
    goal: string[],
  ): Promise<{ index: number; replayed: number; state: Awaited<ReturnType<typeof dump>> }> {
    const c = new ProcCluster();
    restored.push(c);
    const port = await freePort();
    const r = await kvctl(
      [
        'restore',
        '--from',
        `s3://${BUCKET}/${PREFIX}`,
        ...goal,
        '--data-dir',
        join(c.root, 'r1'),
        '--id',
        'r1',
        '--peers',
        '',
        '--addr',
        `127.0.0.1:${port}`,
        '--s3-endpoint',
        minio.endpoint,
        '-o',
        'json',
      ],
      minio.env,
    );
    assert.equal(r.code, 0, `restore ${goal.join(' ')}: ${r.stderr}`);
    const res = JSON.parse(r.stdout) as { index: number; replayed: number };
    c.define('r1', port, ['-addr', `127.0.0.1:${port}`]);
    c.spawn('r1');
    await c.waitForLeader(30_000);
    const state = await dump(c.node('r1').url);
    await c.close();
    return { index: res.index, replayed: res.replayed, state };
  }

  test('a writer under faults; restores to indexes, times and the latest point replay the history', async () => {
    const archiveArgs = [
      '-backup-s3-url',
      `s3://${BUCKET}/${PREFIX}`,
      '-backup-s3-endpoint',
      minio.endpoint,
      '-backup-rpo',
      '2s',
      '-backup-full-interval',
      '8s',
      '-backup-keep-full',
      '50',
      '-snapshot-threshold',
      '400',
    ];
    cluster = await ProcCluster.start(['n1', 'n2', 'n3'], archiveArgs, minio.env);
    const urls = [...cluster.nodes.values()].map((n) => n.url);
    const writer = new RecordingWriter(() => urls);
    writer.start(3, 3);
    const marks: number[] = [];
    await sleep(5000);
    marks.push(Date.now());
    // Fault 1: kill the leader; a new one must resume archiving where the bucket ends.
    const first = await cluster.waitForLeader();
    await cluster.kill9(first);
    await cluster.waitForLeader(30_000);
    await sleep(4000);
    marks.push(Date.now());
    cluster.spawn(first);
    await sleep(3000);
    // Fault 2: pause the leader past an election; when it resumes it is deposed (and may upload once more).
    const second = await cluster.waitForLeader(30_000);
    const paused = cluster.node(second).proc!;
    paused.kill('SIGSTOP');
    await sleep(4000);
    marks.push(Date.now());
    paused.kill('SIGCONT');
    await sleep(4000);
    marks.push(Date.now());
    await writer.stop();
    const top = writer.maxIndex();
    assert.ok(writer.ops.length > 200, `writes acknowledged: ${writer.ops.length}`);

    // Everything acknowledged reaches the bucket within the RPO (2 s here) plus retries.
    const leader = await cluster.waitForLeader(30_000);
    await waitFor(
      'the archive to reach the last acknowledged write',
      async () => {
        const l = await metric(cluster.node(leader).url, 'kvstore_backup_archived_index');
        return Number(l[0]?.split(' ')[1] ?? 0) >= top;
      },
      60_000,
      250,
    );
    const delays: string[] = [];
    for (const n of cluster.running())
      delays.push(...(await metric(n.url, 'kvstore_backup_archive_delay_seconds_bucket')));
    const failures = (
      await Promise.all(cluster.running().map((n) => metric(n.url, 'kvstore_backup_upload_failures_total')))
    ).flat();
    console.log(
      `archive delay (proposal stamp to segment in the bucket): p50 ${quantile(delays, 0.5)}, p99 ${quantile(delays, 0.99)}; failures: ${failures.join(', ') || 'none'}`,
    );
    console.log(
      `writes acknowledged ${writer.ops.length}, unknown outcome ${writer.unknown.length}, top index ${top}`,
    );

    // Restore to indexes spread over the run, then to the chosen times, then to the latest point.
    const sorted = [...writer.ops].sort((a, b) => a.index - b.index);
    const indexes = [0.2, 0.5, 0.8].map((f) => sorted[Math.floor(f * (sorted.length - 1))]!.index);
    for (const index of indexes) {
      const r = await restoreAndRead(['--to-index', String(index)]);
      assert.equal(r.index, index);
      const c = compare(r.state, writer, index);
      assert.deepEqual(c.problems, [], `restore to index ${index}`);
      console.log(
        `restore --to-index ${index}: ${r.state.size} keys, ${r.replayed} entries replayed, ${c.explainedByUnknown} differences from unknown-outcome writes`,
      );
    }
    for (const t of marks) {
      const r = await restoreAndRead(['--to-time', new Date(t).toISOString()]);
      const c = compare(r.state, writer, r.index);
      assert.deepEqual(c.problems, [], `restore to ${new Date(t).toISOString()} (index ${r.index})`);
      // Acknowledged before t: included. Sent after t: excluded.
      const late = writer.ops.filter((o: Op) => o.ackedAt <= t && o.index > r.index);
      const early = writer.ops.filter((o: Op) => o.sentAt > t && o.index <= r.index);
      assert.deepEqual(late, [], `writes acknowledged before ${t} missing from the restore at ${r.index}`);
      assert.deepEqual(early, [], `writes sent after ${t} present in the restore at ${r.index}`);
      console.log(`restore --to-time ${new Date(t).toISOString()}: index ${r.index}, ${r.state.size} keys`);
    }
    const latest = await restoreAndRead([]);
    assert.ok(latest.index >= top, `latest restore reaches ${latest.index} >= ${top}`);
    assert.deepEqual(compare(latest.state, writer, latest.index).problems, [], 'restore to the latest point');

    // Damage: a segment with one flipped byte (its recorded sha256 kept) and a missing segment.
    await cluster.close();
    // A segment the restore to the middle index needs (after the snapshot it starts from).
    const store = new ObjectStore({ bucket: BUCKET, prefix: `${PREFIX}/`, endpoint: minio.endpoint });
    const archive = await listArchive(store);
    store.destroy();
    const mid = indexes[1]!;
    const base = archive.snapshots.filter((x) => x.index <= mid).at(-1)!;
    const chain = chainSegments(archive.segments, base.index, mid);
    assert.ok(chain.length > 0, `restoring to ${mid} from the snapshot at ${base.index} needs segments`);
    const victim = chain[0]!.key;
    console.log(
      `archive: ${archive.snapshots.length} full snapshots, ${archive.segments.length} segments; damaging ${victim}`,
    );
    const obj = await minio.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: victim }));
    const body = Buffer.from(await obj.Body!.transformToByteArray());
    body[Math.floor(body.length / 2)] = body[Math.floor(body.length / 2)]! ^ 0x10;
    await minio.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: victim, Body: body, Metadata: obj.Metadata }),
    );
    const corrupt = await kvctl(
      [
        'restore',
        '--from',
        `s3://${BUCKET}/${PREFIX}`,
        '--to-index',
        String(mid),
        '--data-dir',
        join(minio.root, 'x1'),
        '--id',
        'x',
        '--peers',
        '',
        '--addr',
        '127.0.0.1:1',
        '--s3-endpoint',
        minio.endpoint,
      ],
      minio.env,
    );
    assert.equal(corrupt.code, 1, corrupt.stdout);
    assert.match(corrupt.stderr, new RegExp(`kvctl: corrupt: object ${victim} fails its sha256`));
    await minio.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: victim }));
    const missing = await kvctl(
      [
        'restore',
        '--from',
        `s3://${BUCKET}/${PREFIX}`,
        '--to-index',
        String(mid),
        '--data-dir',
        join(minio.root, 'x2'),
        '--id',
        'x',
        '--peers',
        '',
        '--addr',
        '127.0.0.1:1',
        '--s3-endpoint',
        minio.endpoint,
      ],
      minio.env,
    );
    assert.equal(missing.code, 1, missing.stdout);
    assert.match(missing.stderr, /kvctl: broken-chain: the archive has no segment with entries \d+\.\.\d+/);
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
