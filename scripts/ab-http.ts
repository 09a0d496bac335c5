// Same-run A/B of kv-store builds or flags (docs/adr/0063): 3 local members per variant, wrk with
// bench/lua/bench.lua against the leader (PUT) or all members (GET), repetitions interleaved with
// the order alternating, CPU-seconds of members + wrk per 1,000 requests from /proc.
// --op watch: bench/lib/watch-fanout.ts's fan-out (1,000 watchers on a prefix over the members, a
// writer at --rate writes/s on the leader), latency from the write's ack; rps = delivered share.
// The watchers stream (?stream) unless --stream no.
// Usage: node scripts/ab-http.ts --op put --clients 64 --reps 3 --duration 5 \
//          'base=/work/wt-perf-base' 'w2=/work/wt-perf:-http-workers 2'
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { nearestRank, runWatchFanOut } from '../bench/lib/watch-fanout.ts';

interface Variant {
  name: string;
  root: string;
  flags: string[];
}

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = argv[i + 1]!;
  argv.splice(i, 2);
  return v;
};
const op = opt('op', 'put');
const clients = Number(opt('clients', '64'));
const reps = Number(opt('reps', '3'));
const duration = Number(opt('duration', '5'));
const keys = Number(opt('keys', '10000'));
const basePort = Number(opt('port', '29080'));
const watchers = Number(opt('watchers', '1000'));
const rate = Number(opt('rate', '20'));
// --stream no: blocking long-poll watchers instead of the streaming watch (?stream).
const streamWatch = opt('stream', 'yes') !== 'no';
const variants: Variant[] = argv.map((a) => {
  const [name, rest] = a.split('=', 2) as [string, string];
  const [root, flags] = rest.split(':', 2) as [string, string | undefined];
  return { name, root, flags: flags ? flags.split(' ').filter(Boolean) : [] };
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ticks = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
};

function startCluster(v: Variant, dir: string): { procs: ChildProcess[]; ports: number[] } {
  const ports = [0, 1, 2].map((i) => basePort + i);
  const procs = ports.map((p, i) => {
    const peers = ports
      .filter((_, j) => j !== i)
      .map((q) => `m${ports.indexOf(q)}=127.0.0.1:${q}`)
      .join(',');
    return spawn(
      process.execPath,
      [
        path.join(v.root, 'node/bin/kv-store.js'),
        '-id',
        `m${i}`,
        '-addr',
        `127.0.0.1:${p}`,
        '-peers',
        peers,
        '-data-dir',
        path.join(dir, `m${i}`),
        ...v.flags,
      ],
      {
        stdio: ['ignore', 'ignore', 'ignore'],
        env: { ...process.env, NODE_OPTIONS: process.env.AB_MEMBER_NODE_OPTIONS ?? '' },
      },
    );
  });
  return { procs, ports };
}

async function leaderPort(ports: number[]): Promise<number> {
  for (let t = 0; t < 200; t++) {
    for (const p of ports) {
      try {
        const r = await fetch(`http://127.0.0.1:${p}/v1/status`);
        const s = (await r.json()) as { leader?: string | null; state?: string };
        if (s.state === 'leader') {
          const ready = await Promise.all(
            ports.map((q) => fetch(`http://127.0.0.1:${q}/readyz`).then((x) => x.status)),
          );
          if (ready.every((x) => x === 200)) return p;
        }
      } catch {
        /* not up yet */
      }
    }
    await sleep(100);
  }
  throw new Error('no leader');
}

function wrk(
  v: Variant,
  o: string,
  targets: string[],
  c: number,
  d: number,
): Promise<{ out: string; cpu: number }> {
  const threads = [16, 8, 4, 2, 1].find((t) => c % t === 0 && t <= c)!;
  // Each variant's own script, so a change to the load generator can be compared too.
  const script = path.join(v.root, 'bench/lua/bench.lua');
  const cmd = `TIMEFORMAT='CPU %U %S'; time wrk -t ${threads} -c ${c} -d ${d}s --timeout 10s -s ${script} http://${targets[0]}`;
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', cmd], {
      env: {
        ...process.env,
        BENCH_SYSTEM: 'kvstore',
        BENCH_OP: o,
        BENCH_TARGETS: targets.join(','),
        BENCH_KEYS: String(keys),
        BENCH_VALUE_SIZE: '100',
      },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', () => {
      const m = /CPU ([\d.]+) ([\d.]+)/.exec(out);
      resolve({ out, cpu: m ? Number(m[1]) + Number(m[2]) : NaN });
    });
  });
}

async function watchFanOut(procs: ChildProcess[], all: string[]): Promise<Row> {
  const pids = procs.map((p) => p.pid!);
  let before: number[] = [];
  let after: number[] = [];
  let selfBefore = process.cpuUsage();
  let self = process.cpuUsage();
  const run = await runWatchFanOut({
    writer: all[0]!,
    members: all,
    watchers,
    writesPerSec: rate,
    seconds: duration,
    stream: streamWatch,
    onWindowStart: () => {
      before = pids.map(ticks);
      selfBefore = process.cpuUsage();
    },
    onWindowEnd: () => {
      after = pids.map(ticks);
      self = process.cpuUsage(selfBefore);
    },
  });
  const lat = run.latencies;
  const cpu = after.reduce((s, a, i) => s + a - before[i]!, 0) / 100 + (self.user + self.system) / 1e6;
  if (run.failures > 0) console.log(`  ${run.failures} watch requests failed`);
  return {
    rps: lat.length / run.writes / watchers, // delivered share
    p50: nearestRank(lat, 50),
    p99: nearestRank(lat, 99),
    non2xx: run.failures,
    cpuPer1k: (cpu / lat.length) * 1000,
    // For a watch row: the cores of this process (the 1,000 watchers' client), the likely bound.
    leaderCpu: (self.user + self.system) / 1e6 / (duration + 1),
  };
}

interface Row {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  cpuPer1k: number;
  leaderCpu: number;
  /** The load generator's share of cpuPer1k (wrk; the in-process watch client for --op watch). */
  loadPer1k?: number;
}
const results = new Map<string, Row[]>();

async function measure(v: Variant): Promise<Row> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ab-http-'));
  const { procs, ports } = startCluster(v, dir);
  try {
    const leader = await leaderPort(ports);
    const all = [leader, ...ports.filter((p) => p !== leader)].map((p) => `127.0.0.1:${p}`);
    if (op === 'watch') return await watchFanOut(procs, all);
    if (op === 'get') await wrk(v, 'put', [all[0]!], 64, 3); // fill the keyspace
    await wrk(v, op, op === 'put' ? [all[0]!] : all, clients, 2); // warm-up
    const pids = procs.map((p) => p.pid!);
    const before = pids.map(ticks);
    const r = await wrk(v, op, op === 'put' ? [all[0]!] : all, clients, duration);
    const after = pids.map(ticks);
    const memberCpu = after.reduce((s, a, i) => s + a - before[i]!, 0) / 100;
    const leaderCpu = (after[ports.indexOf(leader)]! - before[ports.indexOf(leader)]!) / 100 / duration;
    const res = JSON.parse(/BENCH_RESULT (\{.*\})/.exec(r.out)![1]!) as Record<string, number>;
    const rps = res.requests! / (res.durationUs! / 1e6);
    return {
      rps,
      p50: res.p50Us! / 1000,
      p99: res.p99Us! / 1000,
      non2xx: res.non2xx!,
      cpuPer1k: ((memberCpu + r.cpu) / res.requests!) * 1000,
      loadPer1k: (r.cpu / res.requests!) * 1000,
      leaderCpu,
    };
  } finally {
    // SIGTERM: a member started with NODE_OPTIONS=--cpu-prof writes its profile on a clean exit.
    const exited = procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r))));
    for (const p of procs) p.kill('SIGTERM');
    await Promise.race([Promise.all(exited), sleep(10_000)]);
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

for (let rep = 0; rep < reps; rep++) {
  const order = rep % 2 === 0 ? variants : [...variants].reverse();
  for (const v of order) {
    const row = await measure(v);
    (results.get(v.name) ?? results.set(v.name, []).get(v.name)!).push(row);
    console.log(
      `rep ${rep} ${v.name.padEnd(8)} ${op} c=${clients}: ${op === 'watch' ? `delivered ${row.rps.toFixed(3)}` : `${row.rps.toFixed(0)} req/s`} p50 ${row.p50.toFixed(2)} p99 ${row.p99.toFixed(2)} ms non2xx ${row.non2xx} cpu-s/1k ${row.cpuPer1k.toFixed(3)}${row.loadPer1k !== undefined ? ` (wrk ${row.loadPer1k.toFixed(3)})` : ''} leader ${row.leaderCpu.toFixed(2)} cores`,
    );
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const first = variants[0]!.name;
for (const v of variants) {
  const rows = results.get(v.name)!;
  const ratios = rows.map((r, i) => r.rps / results.get(first)![i]!.rps);
  console.log(
    `${v.name.padEnd(8)} median ${median(rows.map((r) => r.rps)).toFixed(0)} req/s, p99 ${median(rows.map((r) => r.p99)).toFixed(2)} ms, cpu-s/1k ${median(rows.map((r) => r.cpuPer1k)).toFixed(3)}, per-rep ratio vs ${first}: ${ratios.map((x) => x.toFixed(2)).join(' ')}`,
  );
}
