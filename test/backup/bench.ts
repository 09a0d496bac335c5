// Backup figures (prints them; asserts nothing): `npm run bench:backup [-- --quick]`
//  1. PUT throughput with archiving on and off, one run, phases interleaved (off, on, off, on ...)
//     on two 3-member clusters side by side on this machine (MinIO too: its disk writes share the
//     disk with the members' fsyncs, which a remote bucket would not), the same closed-loop load;
//  2. commit-to-archive delay (RPO) p50/p99 from the archiving cluster's histogram;
//  3. snapshot save / status / restore times and a restored member's start for 1M keys.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProcCluster, freePort, http, waitFor } from '../integration/harness.ts';
import { kvctl } from '../integration/backup-writer.ts';
import { procTimes, ticksPerSecond } from '../../bench/lib/cpu.ts';
import { startMinio } from './minio.ts';

const quick = process.argv.includes('--quick');
const PHASE_MS = quick ? 4000 : 8000;
const ROUNDS = quick ? 2 : 4;
const CLIENTS = 32;
const KEYS_1M = quick ? 100_000 : 1_000_000;

async function load(urls: string[], ms: number): Promise<{ ops: number; errors: number; p99: number }> {
  const end = Date.now() + ms;
  let ops = 0;
  let errors = 0;
  const lat: number[] = [];
  const value = 'x'.repeat(100);
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      let i = 0;
      while (Date.now() < end) {
        const t = performance.now();
        try {
          const r = await http(
            'PUT',
            `${urls[c % urls.length]}/v1/kv/bench-${c}-${i++ % 1000}`,
            { value },
            { timeoutMs: 10_000 },
          );
          if (r.status === 200) ops++;
          else errors++;
        } catch {
          errors++;
        }
        lat.push(performance.now() - t);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  return { ops: (ops * 1000) / ms, errors, p99: lat[Math.floor(lat.length * 0.99)] ?? 0 };
}

/** CPU ticks (user + system) of a cluster's members and of MinIO, from /proc. */
function cpuTicks(c: ProcCluster, minioPid: number | undefined): { members: number; minio: number } {
  let members = 0;
  for (const n of c.nodes.values()) {
    const pid = n.proc?.pid;
    if (pid !== undefined) members += procTimes(pid).selfTicks;
  }
  return { members, minio: minioPid === undefined ? 0 : procTimes(minioPid).selfTicks };
}

function quantile(text: string, q: number): string {
  const rows = [...text.matchAll(/kvstore_backup_archive_delay_seconds_bucket\{le="([^"]+)"\} (\d+)/g)].map(
    (m) => [m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2])] as const,
  );
  const total = rows.at(-1)?.[1] ?? 0;
  for (const [le, n] of rows) if (n >= q * total) return le === Infinity ? '>60 s' : `<= ${le} s`;
  return 'n/a';
}

async function throughput(): Promise<void> {
  const minio = await startMinio();
  await minio.createBucket('bench');
  const off = await ProcCluster.start(['o1', 'o2', 'o3']);
  const on = await ProcCluster.start(
    ['a1', 'a2', 'a3'],
    ['-backup-s3-url', 's3://bench/run', '-backup-s3-endpoint', minio.endpoint],
    minio.env,
  );
  try {
    const leaderUrl = async (c: ProcCluster) => c.node(await c.waitForLeader()).url;
    const rows: string[] = [];
    const sums = { off: 0, on: 0 };
    const cpu: Record<'off' | 'on', number[]> = { off: [], on: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, c] of [
        ['off', off],
        ['on', on],
      ] as const) {
        const url = await leaderUrl(c);
        const before = cpuTicks(c, minio.pid);
        const res = await load([url], PHASE_MS);
        const after = cpuTicks(c, minio.pid);
        sums[name] += res.ops;
        const puts = (res.ops * PHASE_MS) / 1000;
        const perK = (ticks: number) => (puts > 0 ? (1000 * ticks) / ticksPerSecond() / puts : NaN);
        const memberCpu = perK(after.members - before.members);
        cpu[name].push(memberCpu);
        // MinIO works for the archiving cluster only; its share is the bucket's cost, not the members'.
        const minioCpu = name === 'on' ? `, MinIO ${perK(after.minio - before.minio).toFixed(3)}` : '';
        rows.push(
          `  round ${r + 1} archiving ${name.padEnd(3)}: ${res.ops.toFixed(0)} PUT/s, p99 ${res.p99.toFixed(1)} ms, errors ${res.errors}, ` +
            `CPU-s per 1k PUT: members ${memberCpu.toFixed(3)}${minioCpu}`,
        );
      }
    }
    console.log(
      `PUT throughput, ${CLIENTS} clients on the leader, 100-byte values, ${PHASE_MS / 1000} s phases interleaved:`,
    );
    console.log(rows.join('\n'));
    console.log(
      `  mean: off ${(sums.off / ROUNDS).toFixed(0)} PUT/s, on ${(sums.on / ROUNDS).toFixed(0)} PUT/s (${((100 * sums.on) / sums.off - 100).toFixed(1)} %)`,
    );
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    console.log(
      `  members' CPU-s per 1k PUT (median of rounds): off ${median(cpu.off).toFixed(3)}, on ${median(cpu.on).toFixed(3)} ` +
        `(${((100 * median(cpu.on)) / median(cpu.off) - 100).toFixed(1)} %)`,
    );
    const leader = await leaderUrl(on);
    await new Promise((r) => setTimeout(r, 3000));
    const metrics = (await http('GET', `${leader}/metrics`)).body as string;
    console.log(
      `RPO (proposal stamp to segment in MinIO, default -backup-rpo 10s): p50 ${quantile(metrics, 0.5)}, p99 ${quantile(metrics, 0.99)}`,
    );
    console.log(
      `  ${metrics
        .split('\n')
        .filter((l) =>
          /^kvstore_backup_(archived_index|lag_seconds|upload_failures_total|uploads_total)/.test(l),
        )
        .join('\n  ')}`,
    );
  } finally {
    await off.close();
    await on.close();
    await minio.stop();
  }
}

async function oneMillion(): Promise<void> {
  const work = new ProcCluster();
  try {
    // The 1M-key state is built through the real state machine and codec (in a child, to time alone
    // what kvctl does), then restored, started, and saved again from the running member over HTTP.
    const source = join(work.root, 'source.snap');
    const gen = `
      const { KvStateMachine } = await import(${JSON.stringify(new URL('../../node/src/kv/state-machine.ts', import.meta.url).href)});
      const { writeSnapshotFile } = await import(${JSON.stringify(new URL('../../node/src/backup/snapshot-file.ts', import.meta.url).href)});
      const sm = new KvStateMachine();
      sm.setMember('g1', { peerUrl: 'http://127.0.0.1:1', clientUrl: 'http://127.0.0.1:1' });
      const v = 'x'.repeat(100);
      for (let i = 0; i < ${KEYS_1M}; i++) sm.apply(i + 2, { op: 'put', requestId: 'r' + i, key: 'key-' + String(i).padStart(8, '0'), value: v });
      const { chunks, release } = sm.snapshotChunks();
      await writeSnapshotFile(${JSON.stringify(source)}, { index: ${KEYS_1M + 1}, term: 2, clusterId: 'gen', memberId: 'g1', takenAt: Date.now(), keys: ${KEYS_1M}, members: sm.members() }, chunks);
      release();`;
    writeFileSync(join(work.root, 'gen.mjs'), gen);
    const g = spawnSync(process.execPath, [join(work.root, 'gen.mjs')], { stdio: 'inherit' });
    if (g.status !== 0) throw new Error('generating the 1M-key snapshot failed');
    const timed = async (what: string, args: string[]) => {
      const t = performance.now();
      const r = await kvctl(args);
      const s = (performance.now() - t) / 1000;
      if (r.code !== 0) throw new Error(`${what}: ${r.stderr}`);
      return s;
    };
    const port = await freePort();
    const status = await timed('status', ['snapshot', 'status', source]);
    const restore = await timed('restore', [
      'snapshot',
      'restore',
      source,
      '--data-dir',
      join(work.root, 'r1'),
      '--id',
      'r1',
      '--peers',
      `r1=127.0.0.1:${port}`,
    ]);
    work.define('r1', port, ['-addr', `127.0.0.1:${port}`]);
    const t0 = performance.now();
    work.spawn('r1');
    await waitFor(
      'the restored member ready',
      async () =>
        (await http('GET', `${work.node('r1').url}/readyz`, undefined, { timeoutMs: 2000 })).status === 200,
      300_000,
      200,
    );
    const start = (performance.now() - t0) / 1000;
    const save = await timed('save', [
      '--endpoints',
      work.node('r1').url,
      'snapshot',
      'save',
      join(work.root, 'saved.snap'),
    ]);
    const st = JSON.parse(
      (await kvctl(['snapshot', 'status', join(work.root, 'saved.snap'), '-o', 'json'])).stdout,
    ) as { keys: number; bytes: number };
    console.log(`${KEYS_1M} keys (100-byte values), snapshot ${(st.bytes / 2 ** 20).toFixed(0)} MiB:`);
    console.log(`  kvctl snapshot save (streamed from a running member, verified): ${save.toFixed(1)} s`);
    console.log(`  kvctl snapshot status (verify): ${status.toFixed(1)} s`);
    console.log(`  kvctl snapshot restore (offline, one data dir): ${restore.toFixed(1)} s`);
    console.log(`  restored member start to ready: ${start.toFixed(1)} s`);
    if (st.keys !== KEYS_1M) throw new Error(`saved ${st.keys} keys, expected ${KEYS_1M}`);
  } finally {
    await work.close();
  }
}

if (!process.argv.includes('--skip-throughput')) await throughput();
if (!process.argv.includes('--skip-1m')) await oneMillion();
