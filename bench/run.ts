// `npm run bench`: etcd and kv-store on loopback, same load, same code; PUT/GET repetitions interleaved.
// See docs/adr/0060-benchmark-harness.md for the method and its choices.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, USAGE, type BenchOptions, type SystemName } from './lib/args.ts';
import type { Cluster } from './lib/cluster.ts';
import { EtcdCluster } from './lib/etcd.ts';
import { ensureTools, toolVersion } from './lib/install.ts';
import { KvStoreCluster } from './lib/kvstore.ts';
import { compare, renderReport, type ResultsBySystem, type SystemResults } from './lib/report.ts';
import { benchKey, loadKeys, measureBulk, measureFailover, measureThroughput } from './lib/scenarios.ts';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function makeCluster(system: SystemName, workDir: string): Cluster {
  // etcd keeps its default 2 GiB backend quota: 1M keys of 100 bytes stay far below it
  return system === 'etcd' ? new EtcdCluster(workDir) : new KvStoreCluster(workDir);
}

async function withCluster<T>(cluster: Cluster, body: (cluster: Cluster) => Promise<T>): Promise<T> {
  try {
    await cluster.start();
    return await body(cluster);
  } finally {
    await cluster.stop();
  }
}

function recordFailure(results: SystemResults, system: SystemName, error: unknown): void {
  results.error ??= error instanceof Error ? error.message : String(error);
  log(`!! ${system} failed: ${results.error}`);
}

/**
 * The PUT/GET and failover part: one 3-member cluster per system, all running side by side so that
 * measureThroughput can interleave their repetitions (a shared machine's slow minutes then hit
 * every system, not whichever ran at the time).
 */
async function benchLoad(
  systems: readonly SystemName[],
  options: BenchOptions,
  tmpRoot: string,
  results: ResultsBySystem,
): Promise<void> {
  const clusters: Cluster[] = [];
  try {
    for (const system of systems) {
      const r = results[system]!;
      log(`\n== ${system}: 3-member cluster for PUT/GET and failover`);
      try {
        const cluster = makeCluster(system, path.join(tmpRoot, `${system}-load`));
        r.version = cluster.version();
        clusters.push(cluster); // stopped in the finally below even if start fails
        await cluster.start();
        const preload = await loadKeys(cluster, options.keyspace, benchKey, log);
        r.preload = { keys: preload.keys, seconds: preload.seconds, failed: preload.failed };
        log(
          `  ${system}: preloaded ${preload.keys} keys in ${preload.seconds.toFixed(1)} s (${preload.failed} failed)`,
        );
        if (preload.failed > 0) {
          r.notes.push(
            `${preload.failed} preload writes failed (GETs of those keys count as errors); first failures: ${preload.failureSamples.join(' | ')}`,
          );
        }
      } catch (error) {
        recordFailure(r, system, error);
      }
    }
    const healthy = clusters.filter((c) => results[c.system]!.error === undefined);
    log(`\n== PUT/GET on ${healthy.map((c) => c.system).join(', ')}, repetitions interleaved`);
    const points = await measureThroughput(healthy, options, log, (c, error) =>
      recordFailure(results[c.system]!, c.system, error),
    );
    for (const [cluster, clusterPoints] of points) results[cluster.system]!.throughput = clusterPoints;
    for (const cluster of healthy) {
      const r = results[cluster.system]!;
      if (r.error !== undefined) continue;
      try {
        r.failover = await measureFailover(cluster, options.failoverRepetitions, log);
      } catch (error) {
        recordFailure(r, cluster.system, error);
      }
    }
  } finally {
    for (const cluster of clusters) await cluster.stop();
  }
}

/** Memory, restart and disk with 1M keys: a fresh cluster per system, one after the other. */
async function benchBulk(
  system: SystemName,
  options: BenchOptions,
  tmpRoot: string,
  results: SystemResults,
): Promise<void> {
  if (options.skip1m || results.error !== undefined) return;
  try {
    log(`\n== ${system}: fresh 3-member cluster, ${options.bulkKeys} keys of 100 bytes`);
    const bulkCluster = makeCluster(system, path.join(tmpRoot, `${system}-bulk`));
    results.bulk = await withCluster(bulkCluster, (cluster) =>
      measureBulk(cluster, options.bulkKeys, options.quick ? 1 : 3, log),
    );
    const { failed, failureSamples } = results.bulk.load;
    if (failed > 0)
      results.notes.push(
        `${failed} bulk writes failed after 5 attempts; first failures: ${failureSamples.join(' | ')}`,
      );
  } catch (error) {
    recordFailure(results, system, error);
  }
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
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  const tools = ['wrk', ...(options.systems.includes('etcd') ? ['etcd', 'etcdctl'] : [])];
  ensureTools(tools, log);

  const startedAt = new Date();
  const tmpRoot = mkdtempSync(path.join(os.tmpdir(), 'kv-bench-'));
  log(`bench: ${options.quick ? 'quick ' : ''}run of ${options.systems.join(', ')}; data under ${tmpRoot}`);
  log(
    `bench: PUT -> leader, linearizable GET -> all members; ${options.repetitions} x ${options.durationSec} s per point, median; keyspace ${options.keyspace}`,
  );

  const results: ResultsBySystem = {};
  for (const system of options.systems) results[system] = { notes: [] };
  await benchLoad(options.systems, options, tmpRoot, results);
  for (const system of options.systems) await benchBulk(system, options, tmpRoot, results[system]!);

  const comparison = compare(results);
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options,
    method: {
      load: 'wrk + bench/lua/bench.lua; PUT of 100-byte values on uniformly random keys; linearizable GET of preloaded keys',
      targets:
        'PUT to the leader; GET spread over all members (wrk thread i -> member i mod 3, leader first)',
      aggregation:
        'median over repetitions for req/s, p50, p99; errors summed (non-2xx + socket errors + timeouts)',
      ratios: 'kv-store / etcd',
    },
    host: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryBytes: os.totalmem(),
      kernel: os.release(),
      node: process.version,
      wrk: toolVersion('wrk', ['--version']),
    },
    systems: results,
    comparison,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const resultsFile = path.join(RESULTS_DIR, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(resultsFile, `${JSON.stringify(report, null, 2)}\n`);

  log(`\n${renderReport(results, comparison)}\n`);
  log(`bench: results written to ${path.relative(process.cwd(), resultsFile)}`);
  const failed = Object.values(results).some((r) => r.error !== undefined);
  // on failure the member logs are the evidence: keep them
  if (options.keepData || failed) log(`bench: data and member logs kept under ${tmpRoot}`);
  else rmSync(tmpRoot, { recursive: true, force: true });
  return failed ? 1 : 0;
}

process.exitCode = await main();
