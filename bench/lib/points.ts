// The throughput points (PUT, linearizable GET, value sizes, 5 members, mixed 90/10) and the two
// load generators behind them: wrk for the HTTP APIs, etcd's `benchmark` for etcd's native gRPC.
// Every run also records the CPU-seconds its members and load generator spent (lib/cpu.ts).
import path from 'node:path';
import { ROWS, type BenchOptions, type PointGroup, type RowName } from './args.ts';
import { parseBenchReport, percentileMs, runBenchTool } from './benchtool.ts';
import type { Cluster } from './cluster.ts';
import { cpuBetween, cpuPerKiloRequest, sampleCpu, type CpuUsage } from './cpu.ts';
import { EtcdCluster } from './etcd.ts';
import { median } from './stats.ts';
import { runWrk, type Operation } from './wrk.ts';

export interface PointSpec {
  /** stable id, e.g. put-c64-v100-m3 */
  id: string;
  group: PointGroup;
  op: Operation;
  clients: number;
  valueSize: number;
  members: 3 | 5;
}

/** Same load as the shape of a run's result, whichever tool produced it. */
export interface LoadResult {
  tool: 'wrk' | 'benchmark';
  rps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  /** completed requests, failed ones included */
  requests: number;
  cpu: CpuUsage;
  cpuSecPer1kReq: number | null;
}

export interface RowPoint {
  row: RowName;
  point: PointSpec;
  runs: LoadResult[];
  rps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  cpuSecPer1kReq: number | null;
  /** measured on the TLS twin of the row's cluster (--tls on|both) */
  tls?: boolean;
  /** why the row has no figures for this point */
  skipped?: string;
}

function spec(
  group: PointGroup,
  op: Operation,
  clients: number,
  valueSize: number,
  members: 3 | 5,
): PointSpec {
  return { id: `${op}-c${clients}-v${valueSize}-m${members}`, group, op, clients, valueSize, members };
}

/** The points the selected groups ask for, each once (a size point at 100 B is the PUT point at 64). */
export function planPoints(options: Pick<BenchOptions, 'points' | 'clients' | 'valueSizes'>): PointSpec[] {
  const out: PointSpec[] = [];
  const add = (p: PointSpec): void => {
    if (!out.some((q) => q.id === p.id)) out.push(p);
  };
  const has = (g: PointGroup): boolean => options.points.includes(g);
  if (has('put')) for (const c of options.clients) add(spec('put', 'put', c, 100, 3));
  if (has('get')) for (const c of options.clients) add(spec('get', 'get', c, 100, 3));
  if (has('sizes')) for (const v of options.valueSizes) add(spec('sizes', 'put', 64, v, 3));
  if (has('mixed')) add(spec('mixed', 'mixed', 64, 100, 3));
  if (has('members5')) {
    add(spec('members5', 'put', 64, 100, 5));
    add(spec('members5', 'get', 64, 100, 5));
  }
  return out;
}

/** Why a row cannot run a point, or null. */
export function unsupported(row: RowName, point: PointSpec): string | null {
  if (ROWS[row].driver === 'benchmark' && point.op === 'mixed') {
    return "etcd's benchmark tool has no single-key 90/10 mode (txn-mixed reads whole-prefix ranges)";
  }
  return null;
}

/** The key etcd's `benchmark range` reads over and over (it takes one key, not a keyspace). */
export const BENCH_RANGE_KEY = 'bench/000001';

/** Arguments of etcd's benchmark tool for one point; endpoints: leader for writes, all members for reads. */
export function benchToolArgs(
  point: PointSpec,
  endpoints: { leader: string; all: string[] },
  total: number,
  keyspace: number,
  cacert?: string,
): string[] {
  const common = [
    '--precise',
    '--clients',
    String(point.clients),
    '--conns',
    String(point.clients),
    ...(cacert !== undefined ? ['--cacert', cacert] : []),
  ];
  if (point.op === 'put') {
    return [
      '--endpoints',
      endpoints.leader,
      ...common,
      'put',
      '--total',
      String(total),
      '--key-size',
      '12',
      '--val-size',
      String(point.valueSize),
      '--key-space-size',
      String(keyspace),
      '--sequential-keys=false',
    ];
  }
  if (point.op === 'get') {
    return [
      '--endpoints',
      endpoints.all.join(','),
      ...common,
      'range',
      BENCH_RANGE_KEY,
      '--consistency=l',
      '--total',
      String(total),
    ];
  }
  throw new Error(`benchmark tool: no mode for ${point.op}`);
}

interface Targets {
  leader: string;
  /** leader first */
  all: string[];
}

async function targetsOf(cluster: Cluster): Promise<Targets> {
  const leader = await cluster.waitForLeader();
  const leaderHostPort = cluster.members[leader]!.clientHostPort;
  return {
    leader: leaderHostPort,
    all: [leaderHostPort, ...cluster.members.filter((_, i) => i !== leader).map((m) => m.clientHostPort)],
  };
}

export interface Runner {
  row: RowName;
  cluster: Cluster;
  /** etcd's benchmark binary (rows driven by it) */
  benchBin?: string;
  /** requests per second seen last on this point: sizes the next --total of the benchmark tool */
  estimate: Map<string, number>;
}

/** The row's name in logs and tables: `kvstore`, or `kvstore+tls` on the TLS twin. */
export function runnerName(runner: Pick<Runner, 'row' | 'cluster'>): string {
  return `${runner.row}${runner.cluster.tls !== null ? '+tls' : ''}`;
}

/** One measurement of one row on one point. */
export async function runPoint(
  runner: Runner,
  point: PointSpec,
  durationSec: number,
  keyspace: number,
): Promise<LoadResult> {
  const targets = await targetsOf(runner.cluster);
  const pids = runner.cluster.pids();
  if (ROWS[runner.row].driver === 'wrk') {
    const before = sampleCpu(pids);
    const result = await runWrk({
      protocol: runner.cluster.protocol,
      op: point.op,
      targets: point.op === 'put' ? [targets.leader] : targets.all,
      connections: point.clients,
      durationSec,
      keyspace,
      valueSize: point.valueSize,
      scheme: runner.cluster.scheme,
    });
    const cpu = cpuBetween(before, sampleCpu(pids), 'children');
    return {
      tool: 'wrk',
      rps: result.rps,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      p999Ms: result.p999Ms,
      errors: result.errors,
      requests: result.requests,
      cpu,
      cpuSecPer1kReq: cpuPerKiloRequest(cpu, result.requests),
    };
  }
  if (runner.benchBin === undefined) throw new Error(`${runner.row}: no benchmark binary`);
  // the tool stops after --total requests, not after a time: size it from the last rate seen
  const estimate = runner.estimate.get(point.id) ?? 0;
  const total = Math.max(point.clients * 4, 100, Math.round(estimate * durationSec));
  const before = sampleCpu(pids);
  const stdout = await runBenchTool({
    bin: runner.benchBin,
    args: benchToolArgs(point, targets, total, keyspace, runner.cluster.tls?.ca),
    timeoutMs: Math.max(60_000, durationSec * 20_000),
  });
  const cpu = cpuBetween(before, sampleCpu(pids), 'children');
  const report = parseBenchReport(stdout);
  runner.estimate.set(point.id, report.rps);
  const requests = report.ok + report.errors;
  return {
    tool: 'benchmark',
    rps: report.rps,
    p50Ms: percentileMs(report, '50'),
    p99Ms: percentileMs(report, '99'),
    p999Ms: percentileMs(report, '99.9'),
    errors: report.errors,
    requests,
    cpu,
    cpuSecPer1kReq: cpuPerKiloRequest(cpu, requests),
  };
}

/** A short unrecorded run: warms caches and connections, and sizes the benchmark tool's --total. */
export async function warmUp(
  runner: Runner,
  point: PointSpec,
  keyspace: number,
  quick: boolean,
): Promise<void> {
  if (ROWS[runner.row].driver === 'benchmark') await runPoint(runner, point, 1, keyspace);
  else if (!quick) await runPoint(runner, point, 2, keyspace);
}

export function summarize(row: RowName, point: PointSpec, runs: LoadResult[], tls = false): RowPoint {
  const cpu = runs.map((r) => r.cpuSecPer1kReq).filter((c): c is number => c !== null);
  return {
    row,
    ...(tls ? { tls } : {}),
    point,
    runs,
    rps: median(runs.map((r) => r.rps)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    p999Ms: median(runs.map((r) => r.p999Ms)),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    cpuSecPer1kReq: cpu.length > 0 ? median(cpu) : null,
  };
}

/**
 * Every point on every row, repetitions interleaved: each repetition runs once per row before the
 * next starts, in alternating order, so a slow minute on the shared machine hits every system.
 * A row whose run throws is reported through onError and dropped from the remaining points.
 */
export async function measurePoints(
  runners: readonly Runner[],
  points: readonly PointSpec[],
  options: BenchOptions,
  log: (line: string) => void,
  onError: (runner: Runner, error: unknown) => void,
): Promise<RowPoint[]> {
  const out: RowPoint[] = [];
  const live = new Set(runners);
  const attempt = async (runner: Runner, body: () => Promise<void>): Promise<void> => {
    if (!live.has(runner)) return;
    try {
      await body();
    } catch (error) {
      live.delete(runner);
      onError(runner, error);
    }
  };
  for (const point of points) {
    const active: Runner[] = [];
    for (const runner of runners) {
      const why = unsupported(runner.row, point);
      if (why !== null) {
        out.push({
          row: runner.row,
          ...(runner.cluster.tls !== null ? { tls: true } : {}),
          point,
          runs: [],
          rps: Number.NaN,
          p50Ms: Number.NaN,
          p99Ms: Number.NaN,
          p999Ms: Number.NaN,
          errors: 0,
          cpuSecPer1kReq: null,
          skipped: why,
        });
        continue;
      }
      await attempt(runner, async () => {
        await warmUp(runner, point, options.keyspace, options.quick);
        active.push(runner);
      });
    }
    const runsOf = new Map<Runner, LoadResult[]>(active.map((r) => [r, []]));
    for (let rep = 0; rep < options.repetitions; rep++) {
      const order = rep % 2 === 0 ? active : [...active].reverse();
      for (const runner of order) {
        await attempt(runner, async () => {
          const result = await runPoint(runner, point, options.durationSec, options.keyspace);
          runsOf.get(runner)!.push(result);
          log(
            `  ${runnerName(runner)} ${point.id} #${rep + 1}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, p99.9 ${result.p999Ms.toFixed(2)} ms, errors ${result.errors}, CPU ${result.cpuSecPer1kReq?.toFixed(3) ?? '-'} s/1k req`,
          );
        });
      }
    }
    for (const [runner, runs] of runsOf) {
      if (live.has(runner) && runs.length > 0)
        out.push(summarize(runner.row, point, runs, runner.cluster.tls !== null));
    }
    // etcd keeps every revision until compacted: large values would fill its quota
    if (point.valueSize >= 16 * 1024) {
      for (const cluster of new Set(active.map((r) => r.cluster)))
        if (cluster instanceof EtcdCluster) await cluster.compact();
    }
  }
  return out;
}

export function benchBinary(binDir: string): string {
  return path.join(binDir, 'benchmark');
}
