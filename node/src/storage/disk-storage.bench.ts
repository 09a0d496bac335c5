// Measures DiskStorage on this machine's disk. Run from the repo root:
//   node node/src/storage/disk-storage.bench.ts [snapshotMiB=128]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DiskStorage } from './disk-storage.ts';
import type { Entry } from '../raft/types.ts';

const snapshotMiB = Number(process.argv[2] ?? 128);
const dir = await mkdtemp(join(tmpdir(), 'kv-disk-bench-'));
const voters = { voters: ['a'], learners: [] };
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!.toFixed(2);
try {
  const s = await DiskStorage.open(dir, { memberId: 'a', bootstrap: voters });
  let index = 0;
  const batch = (n: number): Entry[] =>
    Array.from({ length: n }, () => ({
      index: ++index,
      term: 1,
      type: 0 as const,
      data: Buffer.alloc(200, 1),
    }));

  const lat: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    await s.persist({ entries: batch(1), hardState: { term: 1, vote: 'a', commit: index }, snapshot: null });
    lat.push(performance.now() - t0);
  }
  console.log(
    `persist 1 entry, sequential (fsync latency): p50 ${pct(lat, 0.5)} ms, p99 ${pct(lat, 0.99)} ms`,
  );

  let t0 = performance.now();
  for (let i = 0; i < 100; i++) await s.persist({ entries: batch(100), hardState: null, snapshot: null });
  const secs = (performance.now() - t0) / 1000;
  console.log(`persist 100-entry batches: ${(10_000 / secs).toFixed(0)} entries/s (group commit)`);

  t0 = performance.now();
  const pending = Array.from({ length: 200 }, () =>
    s.persist({ entries: batch(1), hardState: null, snapshot: null }),
  );
  await Promise.all(pending);
  console.log(`200 pipelined 1-entry persists: ${(performance.now() - t0).toFixed(0)} ms`);

  const data = Buffer.alloc(snapshotMiB << 20, 0x5a);
  t0 = performance.now();
  await s.saveSnapshot(index, voters, data, 1000);
  console.log(`saveSnapshot ${snapshotMiB} MiB + compaction: ${(performance.now() - t0).toFixed(0)} ms`);
  console.log(`disk usage (approximate): ${((await s.diskUsageBytes()) / 2 ** 20).toFixed(1)} MiB`);
  await s.close();

  t0 = performance.now();
  const r = await DiskStorage.open(dir, { memberId: 'a' });
  console.log(
    `reopen (verify + load ${r.lastIndex() - r.firstIndex() + 1} entries and ${snapshotMiB} MiB snapshot): ${(performance.now() - t0).toFixed(0)} ms`,
  );
  await r.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
