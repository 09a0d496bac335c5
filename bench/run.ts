// `npm run bench`: etcd and kv-store, one after the other, on loopback, same load, same code.
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

async function benchSystem(system: SystemName, options: BenchOptions, tmpRoot: string): Promise<SystemResults> {
  const results: SystemResults = { notes: [] };
  try {
    log(`\n== ${system}: 3-member cluster for PUT/GET and failover`);
    const loadCluster = makeCluster(system, path.join(tmpRoot, `${system}-load`));
    results.version = loadCluster.version();
    await withCluster(loadCluster, async (cluster) => {
      const preload = await loadKeys(cluster, options.keyspace, benchKey, log);
      results.preload = { keys: preload.keys, seconds: preload.seconds, failed: preload.failed };
      log(`  ${system}: preloaded ${preload.keys} keys in ${preload.seconds.toFixed(1)} s (${preload.failed} failed)`);
      if (preload.failed > 0) results.notes.push(`${preload.failed} preload writes failed; GETs of those keys count as errors`);
      results.throughput = await measureThroughput(cluster, options, log);
      results.failover = await measureFailover(cluster, options.failoverRepetitions, log);
    });
    if (!options.skip1m) {
      log(`\n== ${system}: fresh 3-member cluster, ${options.bulkKeys} keys of 100 bytes`);
      const bulkCluster = makeCluster(system, path.join(tmpRoot, `${system}-bulk`));
      results.bulk = await withCluster(bulkCluster, (cluster) =>
        measureBulk(cluster, options.bulkKeys, options.quick ? 1 : 3, log));
      if (results.bulk.load.failed > 0) results.notes.push(`${results.bulk.load.failed} bulk writes failed`);
    }
  } catch (error) {
    results.error = error instanceof Error ? error.message : String(error);
    log(`!! ${system} failed: ${results.error}`);
  }
  return results;
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
  log(`bench: PUT -> leader, linearizable GET -> all members; ${options.repetitions} x ${options.durationSec} s per point, median; keyspace ${options.keyspace}`);

  const results: ResultsBySystem = {};
  for (const system of options.systems) results[system] = await benchSystem(system, options, tmpRoot);

  const comparison = compare(results);
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options,
    method: {
      load: 'wrk + bench/lua/bench.lua; PUT of 100-byte values on uniformly random keys; linearizable GET of preloaded keys',
      targets: 'PUT to the leader; GET spread over all members (wrk thread i -> member i mod 3, leader first)',
      aggregation: 'median over repetitions for req/s, p50, p99; errors summed (non-2xx + socket errors + timeouts)',
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
