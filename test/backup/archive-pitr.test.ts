// Continuous archiving to a real MinIO and point-in-time restore, with real processes: a recorded
// writer runs while the leader is killed (-9) and later paused (SIGSTOP: the deposed leader wakes
// up still thinking it uploads); restores to several indexes and times, and to the latest point,
// each equal the replay of the acknowledged history up to the restored index; damaged and missing
// objects are refused. Prints the measured commit-to-archive delay (RPO).
import assert from 'node:assert/strict';
import { GetObjectCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
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
});
