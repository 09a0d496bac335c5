// The archiver's decisions over an in-memory bucket (the S3 calls themselves run against a real
// MinIO in test/backup): where a new leader resumes, when the chain restarts from a snapshot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { createLogger } from '../logger.ts';
import { encodeCommand } from '../kv/commands.ts';
import { KvStateMachine } from '../kv/state-machine.ts';
import type { Entry } from '../raft/types.ts';
import { parseSegmentKey, parseSnapshotKey, segmentKey, snapshotKey } from './archive-layout.ts';
import { Archiver, type ArchiveSource } from './archiver.ts';

class MemoryBucket {
  readonly loc = { prefix: 'p/' };
  readonly objects = new Map<string, Uint8Array>();
  /** Upload times (LastModified); the bucket's clock. */
  readonly uploaded = new Map<string, number>();
  clock = (): number => 0;
  putOnce(key: string, body: Uint8Array): Promise<boolean> {
    if (this.objects.has(key)) return Promise.resolve(false);
    this.objects.set(key, body);
    this.uploaded.set(key, this.clock());
    return Promise.resolve(true);
  }
  list(sub: string): Promise<{ key: string; lastModified: number }[]> {
    return Promise.resolve(
      [...this.objects.keys()]
        .filter((k) => k.startsWith(this.loc.prefix + sub))
        .sort()
        .map((key) => ({ key, lastModified: this.uploaded.get(key) ?? 0 })),
    );
  }
  remove(keys: string[]): Promise<void> {
    for (const k of keys) this.objects.delete(k);
    return Promise.resolve();
  }
  segments(): { first: number; last: number }[] {
    return [...this.objects.keys()].map((k) => parseSegmentKey('p/', k)).filter((r) => r !== null);
  }
  snapshots(): number[] {
    return [...this.objects.keys()].map((k) => parseSnapshotKey('p/', k)).filter((i) => i !== null);
  }
}

function source(applied: number, firstIndex: number): ArchiveSource {
  const sm = new KvStateMachine();
  const log: Entry[] = [];
  for (let i = 1; i <= applied; i++) {
    const cmd = {
      op: 'put' as const,
      requestId: `r${i}`,
      key: `k${i}`,
      value: `v${i}`,
      proposedAt: 1000 + i,
    };
    sm.apply(i, cmd);
    log.push({ index: i, term: 2, type: 0, data: encodeCommand(cmd) });
  }
  return {
    isLeader: () => true,
    clusterId: () => 'c1',
    appliedIndex: () => applied,
    firstIndex: () => firstIndex,
    entries: (lo, hi) => {
      if (lo < firstIndex) throw new Error('compacted');
      return log.slice(lo - 1, hi - 1);
    },
    capture: () => {
      const { appliedIndex, chunks, release } = sm.snapshotChunks();
      return {
        index: appliedIndex,
        term: 2,
        clusterId: 'c1',
        memberId: 'n1',
        takenAt: 5000,
        keys: sm.count(),
        members: [],
        chunks,
        release,
      };
    },
  };
}

const quiet = createLogger({ level: 'error' });

test('a new leader resumes after the segments, even past a newer snapshot', async () => {
  const bucket = new MemoryBucket();
  bucket.objects.set(snapshotKey('p/', 5), new Uint8Array(1));
  bucket.objects.set(segmentKey('p/', 6, 10), new Uint8Array(1));
  // A periodic snapshot the old leader took before uploading 11..20.
  bucket.objects.set(snapshotKey('p/', 20), new Uint8Array(1));
  const a = new Archiver({ store: bucket, source: source(30, 1), log: quiet, registry: new Registry() });
  await a.round();
  assert.deepEqual(
    bucket.segments().sort((x, y) => x.first - y.first),
    [
      { first: 6, last: 10 },
      { first: 11, last: 30 },
    ],
  );
  assert.equal(a.archivedIndex, 30);
});

test('an empty bucket starts with a full snapshot; compacted entries restart the chain from one', async () => {
  const bucket = new MemoryBucket();
  const a = new Archiver({ store: bucket, source: source(12, 1), log: quiet, registry: new Registry() });
  await a.round();
  assert.deepEqual(bucket.snapshots(), [12]);
  assert.equal(a.archivedIndex, 12);

  const b = new MemoryBucket();
  b.objects.set(snapshotKey('p/', 5), new Uint8Array(1));
  b.objects.set(segmentKey('p/', 6, 10), new Uint8Array(1));
  const c = new Archiver({ store: b, source: source(40, 25), log: quiet, registry: new Registry() });
  await c.round();
  assert.deepEqual(
    b.snapshots().sort((x, y) => x - y),
    [5, 40],
    'entries 11..24 are gone: a snapshot at 40 restarts the chain',
  );
  assert.equal(c.archivedIndex, 40);
});

test('a follower uploads nothing', async () => {
  const bucket = new MemoryBucket();
  const src = { ...source(10, 1), isLeader: () => false };
  const a = new Archiver({ store: bucket, source: src, log: quiet, registry: new Registry() });
  await a.round();
  assert.equal(bucket.objects.size, 0);
  assert.equal(a.archivedIndex, null);
});

test('status reports the archived index, its time, the last full snapshot and failures', async () => {
  const bucket = new MemoryBucket();
  bucket.objects.set(snapshotKey('p/', 5), new Uint8Array(1));
  bucket.objects.set(segmentKey('p/', 6, 10), new Uint8Array(1));
  let failing = false;
  const store = {
    loc: bucket.loc,
    putOnce: (k: string, b: Uint8Array) =>
      failing ? Promise.reject(new Error('bucket gone')) : bucket.putOnce(k, b),
    list: (s: string) => bucket.list(s),
    remove: (k: string[]) => bucket.remove(k),
  };
  let now = 100_000;
  const a = new Archiver({
    store,
    source: source(30, 1),
    log: quiet,
    registry: new Registry(),
    now: () => now,
  });
  assert.equal(a.status().uploading, false, 'before the bucket was listed');
  await a.round();
  const s = a.status();
  assert.equal(s.uploading, true);
  assert.equal(s.archivedIndex, 30);
  assert.equal(s.archivedTime, 1030, 'the proposal stamp of entry 30');
  assert.equal(s.lastFullSnapshot?.index, 5, 'found by listing');
  assert.equal(s.lastSuccessAt, 100_000);
  assert.equal(s.consecutiveFailures, 0);
  failing = true;
  now += 1000;
  const more = { ...source(31, 1) };
  const b = new Archiver({ store, source: more, log: quiet, registry: new Registry(), now: () => now });
  await b.round();
  assert.equal(b.status().consecutiveFailures, 1);
  assert.match(b.status().lastError ?? '', /bucket gone/);
});

test('an on-demand full snapshot is taken by the next round and reported; a follower refuses it', async () => {
  const bucket = new MemoryBucket();
  const a = new Archiver({ store: bucket, source: source(12, 1), log: quiet, registry: new Registry() });
  await a.round(); // the first full snapshot, at 12
  const asked = a.requestFull(5000);
  await a.round();
  const info = await asked;
  assert.equal(info.index, 12);
  assert.equal(info.keys, 12);
  assert.ok(info.bytes > 0);
  assert.equal(info.key, snapshotKey('p/', 12));
  assert.deepEqual(a.status().lastFullSnapshot, info);
  await a.stop();

  const f = new Archiver({
    store: bucket,
    source: { ...source(3, 1), isLeader: () => false },
    log: quiet,
    registry: new Registry(),
  });
  await assert.rejects(f.requestFull(1000), /not the leader/);
});

/** A leader whose applied state grows by one write per `write()` (so each snapshot has a new index). */
function growingSource(): { src: ArchiveSource; write: () => void } {
  const sm = new KvStateMachine();
  const log: Entry[] = [];
  const write = (): void => {
    const i = log.length + 1;
    const cmd = {
      op: 'put' as const,
      requestId: `r${i}`,
      key: `k${i}`,
      value: `v${i}`,
      proposedAt: 1000 + i,
    };
    sm.apply(i, cmd);
    log.push({ index: i, term: 2, type: 0, data: encodeCommand(cmd) });
  };
  write();
  const src: ArchiveSource = {
    isLeader: () => true,
    clusterId: () => 'c1',
    appliedIndex: () => log.length,
    firstIndex: () => 1,
    entries: (lo, hi) => log.slice(lo - 1, hi - 1),
    capture: () => {
      const { appliedIndex, chunks, release } = sm.snapshotChunks();
      const members: never[] = [];
      return {
        index: appliedIndex,
        term: 2,
        clusterId: 'c1',
        memberId: 'n1',
        takenAt: 0,
        keys: sm.count(),
        members,
        chunks,
        release,
      };
    },
  };
  return { src, write };
}

const H = 3_600_000;
const T0 = Date.parse('2026-12-01T10:30:00Z');

async function snapshotUploads(registry: Registry): Promise<number> {
  const m = (await registry.getSingleMetric('kvstore_backup_uploads_total')?.get())?.values ?? [];
  return m.find((v) => v.labels.kind === 'snapshot')?.value ?? 0;
}

test('a cron schedule: one full snapshot at each scheduled minute, none in between', async () => {
  const bucket = new MemoryBucket();
  const { src, write } = growingSource();
  let now = T0;
  bucket.clock = () => now;
  const registry = new Registry();
  const a = new Archiver({
    store: bucket,
    source: src,
    log: quiet,
    registry,
    now: () => now,
    fullSchedule: '0 * * * *',
    keepFull: 100,
  });
  await a.round(); // empty bucket: the chain starts with one at once
  assert.equal(await snapshotUploads(registry), 1);
  assert.equal(a.status().fullSchedule, '0 * * * *');
  assert.equal(a.status().fullEveryMs, H, 'the longest gap of an hourly schedule');
  assert.equal(a.status().nextFullAt, Date.parse('2026-12-01T11:00:00Z'));
  for (const t of ['10:45', '10:59:59']) {
    now = Date.parse(`2026-12-01T${t}Z`);
    write();
    await a.round();
  }
  assert.equal(await snapshotUploads(registry), 1, 'not before 11:00');
  now = Date.parse('2026-12-01T11:00:02Z');
  write();
  await a.round();
  assert.equal(await snapshotUploads(registry), 2, 'the 11:00 one');
  await a.round();
  now = Date.parse('2026-12-01T11:40:00Z');
  await a.round();
  assert.equal(await snapshotUploads(registry), 2, 'one per scheduled minute');
  assert.equal(a.status().nextFullAt, Date.parse('2026-12-01T12:00:00Z'));
  // An on-demand one at 11:59 does not replace the 12:00 one.
  now = Date.parse('2026-12-01T11:59:00Z');
  write();
  const asked = a.requestFull(5000);
  await a.round();
  await asked;
  now = Date.parse('2026-12-01T12:00:01Z');
  write();
  await a.round();
  assert.equal(await snapshotUploads(registry), 4);
});

test('a new leader takes the scheduled snapshot the old one missed, and only that one', async () => {
  for (const [lastUpload, wantNow] of [
    ['2026-12-01T09:00:04Z', 1], // 10:00 was missed: taken at once
    ['2026-12-01T10:00:04Z', 0], // 10:00 was taken: the next is at 11:00
  ] as const) {
    const bucket = new MemoryBucket();
    const { src, write } = growingSource();
    for (let i = 0; i < 5; i++) write();
    bucket.objects.set(snapshotKey('p/', 3), new Uint8Array(1));
    bucket.uploaded.set(snapshotKey('p/', 3), Date.parse(lastUpload));
    bucket.objects.set(segmentKey('p/', 4, 5), new Uint8Array(1));
    let now = Date.parse('2026-12-01T10:20:00Z');
    bucket.clock = () => now;
    const registry = new Registry();
    const a = new Archiver({
      store: bucket,
      source: src,
      log: quiet,
      registry,
      now: () => now,
      fullSchedule: '0 * * * *',
    });
    await a.round();
    assert.equal(await snapshotUploads(registry), wantNow, `last upload ${lastUpload}`);
    now = Date.parse('2026-12-01T11:00:30Z');
    write();
    await a.round();
    assert.equal(await snapshotUploads(registry), wantNow + 1, `last upload ${lastUpload}: the 11:00 one`);
  }
});

test('retention by age keeps every snapshot of the window and the one before it; by count alone fewer', async () => {
  for (const keepAgeMs of [null, 5 * H]) {
    const bucket = new MemoryBucket();
    const { src, write } = growingSource();
    let now = T0;
    bucket.clock = () => now;
    const a = new Archiver({
      store: bucket,
      source: src,
      log: quiet,
      registry: new Registry(),
      now: () => now,
      fullSchedule: '0 * * * *',
      keepFull: 2,
      keepAgeMs,
    });
    // Twelve hours of hourly snapshots, writes in between.
    for (let h = 0; h <= 12 * 4; h++) {
      now = T0 + h * 15 * 60_000 + 1000;
      write();
      await a.round();
      await a.round();
    }
    const times = bucket
      .snapshots()
      .map((i) => bucket.uploaded.get(snapshotKey('p/', i))!)
      .sort((x, y) => x - y);
    if (keepAgeMs === null) assert.equal(times.length, 2, 'keepFull 2');
    else {
      // Retention ran after the newest snapshot: its window [then - 5 h, then] holds 6 hourly
      // ones, and the one before the window stays.
      const ranAt = times.at(-1)!;
      const inWindow = times.filter((t) => t >= ranAt - keepAgeMs).length;
      assert.equal(
        times.length,
        inWindow + 1,
        `kept: ${times.map((t) => new Date(t).toISOString()).join(', ')}`,
      );
      assert.ok(times[0]! < ranAt - keepAgeMs);
      assert.equal(inWindow, 6);
    }
    const oldest = Math.min(...bucket.snapshots());
    assert.ok(
      bucket.segments().every((r) => r.last > oldest),
      'no segment a kept snapshot does not need',
    );
    const chain = bucket.segments().sort((x, y) => x.first - y.first);
    assert.equal(chain[0]!.first, oldest + 1, 'the entries right after the oldest kept snapshot are kept');
  }
});

test('refused deletions (object lock, a deny policy) are counted and logged; archiving goes on', async () => {
  const bucket = new MemoryBucket();
  const { src, write } = growingSource();
  let now = T0;
  bucket.clock = () => now;
  const store = {
    loc: bucket.loc,
    putOnce: (k: string, b: Uint8Array) => bucket.putOnce(k, b),
    list: (s: string) => bucket.list(s),
    remove: () => Promise.reject(new Error('3 of 3 objects not deleted (p/snapshots/x: AccessDenied)')),
  };
  const registry = new Registry();
  const a = new Archiver({
    store,
    source: src,
    log: quiet,
    registry,
    now: () => now,
    fullEveryMs: 1000,
    keepFull: 1,
  });
  for (let i = 0; i < 6; i++) {
    now += 1500;
    write();
    await a.round();
    await a.round();
  }
  const failures =
    (await registry.getSingleMetric('kvstore_backup_upload_failures_total')?.get())?.values ?? [];
  assert.ok((failures.find((v) => v.labels.kind === 'retention')?.value ?? 0) >= 3, JSON.stringify(failures));
  assert.ok(!failures.some((v) => v.labels.kind !== 'retention' && v.value > 0), 'no upload failed');
  assert.equal(a.status().consecutiveFailures, 0);
  assert.equal(a.archivedIndex, src.appliedIndex(), 'every entry archived');
  assert.ok(bucket.snapshots().length >= 5, 'snapshots kept coming');
});
