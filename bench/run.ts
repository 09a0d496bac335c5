// `npm run bench`: kv-store and etcd (3.6 native gRPC, 3.6 and 3.4 JSON gateways) on loopback, the
// same points for all, repetitions interleaved. See bench/README.md and docs/adr/0060.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clustersFor, parseArgs, ROWS, USAGE, type BenchOptions, type ClusterKind } from './lib/args.ts';
import { ensureEtcd36 } from './lib/benchtool.ts';
import type { Cluster } from './lib/cluster.ts';
import { EtcdCluster } from './lib/etcd.ts';
import { ensureTools, toolVersion } from './lib/install.ts';
import { KvStoreCluster } from './lib/kvstore.ts';
import {
  benchBinary,
  measurePoints,
  planPoints,
  runnerName,
  type PointSpec,
  type Runner,
} from './lib/points.ts';
import { makeBenchTls, type BenchTls } from './lib/tls.ts';
import { renderReport, type ClusterResults, type Results } from './lib/report.ts';
import { benchKey, loadKeys, measureFailover, measureGrowth } from './lib/scenarios.ts';
import { watchEtcd, watchKvStore } from './lib/watch.ts';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const GIB = 1024 * 1024 * 1024;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface Context {
  options: BenchOptions;
  tmpRoot: string;
  etcd36BinDir: string | null;
  /** certificates of the TLS clusters (--tls on|both) */
  tls: BenchTls | null;
  results: Results;
}

function makeCluster(
  ctx: Context,
  kind: ClusterKind,
  dir: string,
  members: number,
  tls: BenchTls | null = null,
): Cluster {
  const workDir = path.join(ctx.tmpRoot, tls === null ? dir : `${dir}-tls`);
  // 8 GiB quota: large-value points and 5M keys would pass etcd's default 2 GiB
  if (kind === 'etcd34')
    return new EtcdCluster(workDir, {
      version: '3.4',
      binDir: null,
      members,
      quotaBackendBytes: 8 * GIB,
      tls,
    });
  if (kind === 'etcd36')
    return new EtcdCluster(workDir, {
      version: '3.6',
      binDir: ctx.etcd36BinDir,
      members,
      quotaBackendBytes: 8 * GIB,
      tls,
    });
  return new KvStoreCluster(workDir, members, tls);
}

function clusterResults(ctx: Context, kind: ClusterKind, tls = false): ClusterResults {
  const table = tls ? (ctx.results.tlsClusters ??= {}) : ctx.results.clusters;
  return (table[kind] ??= { notes: [] });
}

function fail(ctx: Context, kind: ClusterKind, error: unknown, tls = false): void {
  const r = clusterResults(ctx, kind, tls);
  r.error ??= message(error);
  log(`!! ${kind}${tls ? ' (TLS)' : ''} failed: ${r.error}`);
}

/** Starts one cluster per kind side by side and preloads the keyspace; failed ones are left out. */
async function startClusters(
  ctx: Context,
  kinds: readonly ClusterKind[],
  members: number,
  started: Cluster[],
  tls: BenchTls | null = null,
): Promise<Cluster[]> {
  const healthy: Cluster[] = [];
  const secure = tls !== null;
  for (const kind of kinds) {
    if (clusterResults(ctx, kind, secure).error !== undefined) continue;
    log(
      `\n== ${kind}: ${members}-member cluster${secure ? ' over TLS (client HTTPS, peer mutual TLS)' : ''}`,
    );
    try {
      const cluster = makeCluster(ctx, kind, `${kind}-m${members}`, members, tls);
      clusterResults(ctx, kind, secure).version ??= cluster.version();
      started.push(cluster);
      await cluster.start();
      const preload = await loadKeys(cluster, ctx.options.keyspace, benchKey, log);
      if (members === 3)
        clusterResults(ctx, kind, secure).preload = {
          keys: preload.keys,
          seconds: preload.seconds,
          failed: preload.failed,
        };
      log(
        `  ${kind}: preloaded ${preload.keys} keys in ${preload.seconds.toFixed(1)} s (${preload.failed} failed)`,
      );
      if (preload.failed > 0)
        clusterResults(ctx, kind, secure).notes.push(
          `${preload.failed} preload writes failed; first: ${preload.failureSamples.join(' | ')}`,
        );
      healthy.push(cluster);
    } catch (error) {
      fail(ctx, kind, error, secure);
    }
  }
  return healthy;
}

function runnersFor(ctx: Context, clusters: readonly Cluster[]): Runner[] {
  const runners: Runner[] = [];
  for (const row of ctx.options.rows) {
    // plain and TLS twin of a row run side by side (--tls both): one runner each
    for (const cluster of clusters.filter((c) => c.system === ROWS[row].cluster)) {
      if (ctx.results.rowErrors[runnerName({ row, cluster })] !== undefined) continue;
      runners.push({
        row,
        cluster,
        estimate: new Map(),
        ...(ROWS[row].driver === 'benchmark' ? { benchBin: benchBinary(ctx.etcd36BinDir!) } : {}),
      });
    }
  }
  return runners;
}

async function throughputPhase(
  ctx: Context,
  members: 3 | 5,
  points: PointSpec[],
  extra: (clusters: Cluster[]) => Promise<void>,
): Promise<void> {
  const started: Cluster[] = [];
  try {
    const kinds = clustersFor(ctx.options.rows);
    const plain = ctx.options.tls === 'on' ? [] : await startClusters(ctx, kinds, members, started);
    const secure = ctx.tls === null ? [] : await startClusters(ctx, kinds, members, started, ctx.tls);
    const runners = runnersFor(ctx, [...plain, ...secure]);
    if (points.length > 0) {
      log(
        `\n== ${members} members: ${points.length} points on ${runners.map(runnerName).join(', ')}, repetitions interleaved`,
      );
      const measured = await measurePoints(runners, points, ctx.options, log, (runner, error) => {
        ctx.results.rowErrors[runnerName(runner)] ??= message(error);
        log(`!! ${runnerName(runner)} failed: ${message(error)}`);
      });
      ctx.results.points.push(...measured);
    }
    // watch fan-out and failover are measured on the plain clusters only
    await extra(plain);
  } finally {
    for (const cluster of started) await cluster.stop();
  }
}

async function watchAndFailover(ctx: Context, clusters: Cluster[]): Promise<void> {
  const { options } = ctx;
  if (options.points.includes('watch')) {
    const seconds = Math.max(options.durationSec, 5);
    for (const row of options.rows) {
      const cluster = clusters.find((c) => c.system === ROWS[row].cluster);
      if (cluster === undefined) continue;
      if (row === 'kvstore' || row === 'etcd36') {
        log(
          `\n== ${row}: watch fan-out, ${options.watchers} watchers, ${options.watchRate} writes/s for ${seconds} s`,
        );
        try {
          const report =
            row === 'kvstore'
              ? await watchKvStore(cluster, options.watchers, options.watchRate, seconds)
              : await watchEtcd(
                  cluster,
                  benchBinary(ctx.etcd36BinDir!),
                  options.watchers,
                  options.watchRate,
                  seconds,
                );
          ctx.results.watch[row] = report;
          log(
            `  ${row}: delivered ${(report.deliveredShare * 100).toFixed(1)} %, p50 ${report.p50Ms.toFixed(2)} ms, p99 ${report.p99Ms.toFixed(2)} ms`,
          );
        } catch (error) {
          ctx.results.watch[row] = { skipped: `failed: ${message(error).slice(0, 300)}` };
          log(`!! ${row} watch failed: ${message(error)}`);
        }
      } else {
        ctx.results.watch[row] = {
          skipped: 'the watch point drives kv-store over HTTP and etcd 3.6 over gRPC only',
        };
      }
    }
  }
  if (options.points.includes('failover')) {
    for (const cluster of clusters) {
      try {
        clusterResults(ctx, cluster.system).failover = await measureFailover(
          cluster,
          options.failoverRepetitions,
          log,
        );
      } catch (error) {
        fail(ctx, cluster.system, error);
      }
    }
  }
}

async function growthPhase(ctx: Context): Promise<void> {
  // memory and restart for kv-store and etcd 3.6 (3.4 only when it is the only etcd asked for)
  const kinds = clustersFor(ctx.options.rows).filter(
    (k) => k !== 'etcd34' || !ctx.options.rows.some((r) => ROWS[r].cluster === 'etcd36'),
  );
  for (const kind of kinds) {
    if (clusterResults(ctx, kind).error !== undefined) continue;
    log(`\n== ${kind}: growth to ${ctx.options.growthKeys.join(', ')} keys on a fresh 3-member cluster`);
    const cluster = makeCluster(ctx, kind, `${kind}-growth`, 3);
    try {
      await cluster.start();
      clusterResults(ctx, kind).growth = await measureGrowth(cluster, ctx.options.growthKeys, log);
    } catch (error) {
      fail(ctx, kind, error);
    } finally {
      await cluster.stop();
    }
  }
}

function gitCommit(): string {
  const result = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const dirty =
    spawnSync('git', ['status', '--porcelain', '--', 'node', 'bench'], { encoding: 'utf8' }).stdout.trim() !==
    '';
  return `${result.stdout.trim() || 'unknown'}${dirty ? '+dirty' : ''}`;
}

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    log(USAGE);
    return 0;
  }
  let options: BenchOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${message(error)}\n${USAGE}\n`);
    return 2;
  }
  const startedAt = new Date();
  const kinds = clustersFor(options.rows);
  ensureTools(['wrk', ...(kinds.includes('etcd34') ? ['etcd', 'etcdctl'] : [])], log);
  const ctx: Context = {
    options,
    tmpRoot: mkdtempSync(path.join(os.tmpdir(), 'kv-bench-')),
    etcd36BinDir: null,
    tls: null,
    results: { clusters: {}, points: [], watch: {}, rowErrors: {} },
  };
  if (options.tls !== 'off') ctx.tls = makeBenchTls(path.join(ctx.tmpRoot, 'tls'));
  if (kinds.includes('etcd36')) {
    try {
      ctx.etcd36BinDir = ensureEtcd36(log);
    } catch (error) {
      fail(ctx, 'etcd36', error);
    }
  }
  const commit = gitCommit();
  log(
    `bench: ${options.quick ? 'quick ' : ''}run at ${commit} of ${options.rows.join(', ')}; points ${options.points.join(',')}; data under ${ctx.tmpRoot}`,
  );
  log(
    `bench: ${options.repetitions} x ${options.durationSec} s per point, median; keyspace ${options.keyspace}; clients ${options.clients.join(',')}; TLS ${options.tls}`,
  );

  const all = planPoints(options);
  const three = all.filter((p) => p.members === 3);
  // watch and failover use the 3-member clusters; growth alone starts (and preloads) none of them
  if (three.length > 0 || options.points.some((p) => p === 'watch' || p === 'failover'))
    await throughputPhase(ctx, 3, three, (clusters) => watchAndFailover(ctx, clusters));
  const five = all.filter((p) => p.members === 5);
  if (five.length > 0) await throughputPhase(ctx, 5, five, () => Promise.resolve());
  if (options.points.includes('growth')) await growthPhase(ctx);

  const finishedAt = new Date();
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    commit,
    options,
    rows: Object.fromEntries(options.rows.map((r) => [r, ROWS[r]])),
    method: {
      load: 'wrk + bench/lua/bench.lua for the HTTP APIs; kv-store watch fan-out: streaming watches (?stream) from the harness; etcd 3.6.8 tools/benchmark (put, range --consistency=l, watch-latency) for etcd native gRPC',
      targets: 'PUT to the leader; GET spread over all members; clients = connections for both tools',
      aggregation: 'median over repetitions for req/s, p50, p99, p99.9 and CPU; errors summed',
      cpu: 'utime+stime from /proc/<pid>/stat of every member over the window, plus the load generator (children cutime+cstime of the harness, or its own time for the in-process kv-store watch client)',
      ratios: 'kv-store / etcd 3.6 native',
    },
    host: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryBytes: os.totalmem(),
      kernel: os.release(),
      node: process.version,
      wrk: toolVersion('wrk', ['--version']),
    },
    ...ctx.results,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const resultsFile = path.join(RESULTS_DIR, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(resultsFile, `${JSON.stringify(report, null, 2)}\n`);

  log(
    `\nbench: ${finishedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit}, ${((finishedAt.getTime() - startedAt.getTime()) / 60_000).toFixed(1)} min\n`,
  );
  log(`${renderReport(ctx.results)}\n`);
  log(`bench: results written to ${path.relative(process.cwd(), resultsFile)}`);
  const failed =
    [...Object.values(ctx.results.clusters), ...Object.values(ctx.results.tlsClusters ?? {})].some(
      (r) => r.error !== undefined,
    ) || Object.keys(ctx.results.rowErrors).length > 0;
  if (options.keepData || failed) log(`bench: data and member logs kept under ${ctx.tmpRoot}`);
  else rmSync(ctx.tmpRoot, { recursive: true, force: true });
  return failed ? 1 : 0;
}

process.exitCode = await main();
