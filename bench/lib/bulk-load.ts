// Bulk load for the growth points with wrk (bench/lua/bench.lua, BENCH_OP=load): the keys
// bulk/<from> .. bulk/<from+count-1> once each, 100-byte random values, `connections` connections to
// the leader. The Node loader (scenarios.ts loadKeys) spends far more CPU per write than the members
// do, so on a shared 2-core machine it was the bound: ~230-300 keys/s here under load, where wrk's
// PUT point reached ~2,400 req/s in the same hour. wrk runs for its -d regardless of the script, so
// every thread prints a line when its share is answered and the run is interrupted once all have.
import { spawn } from 'node:child_process';
import type { Cluster } from './cluster.ts';
import type { LoadReport } from './scenarios.ts';
import { VALUE_SIZE } from './scenarios.ts';
import { LUA_SCRIPT } from './wrk.ts';

export interface LoadResult {
  puts: number;
  failed: number;
  durationUs: number;
}

/** The LOAD_RESULT line of bench.lua's done(). */
export function parseLoadResult(stdout: string): LoadResult {
  const line = stdout.split('\n').find((l) => l.startsWith('LOAD_RESULT '));
  if (line === undefined) throw new Error(`wrk printed no LOAD_RESULT line:\n${stdout.slice(-2000)}`);
  const parsed = JSON.parse(line.slice('LOAD_RESULT '.length)) as Record<string, unknown>;
  for (const field of ['puts', 'failed', 'durationUs'] as const) {
    if (typeof parsed[field] !== 'number') throw new Error(`LOAD_RESULT lacks numeric ${field}: ${line}`);
  }
  return parsed as unknown as LoadResult;
}

export async function bulkLoad(
  cluster: Cluster,
  count: number,
  from: number,
  connections = 64,
  maxSeconds = 1800,
): Promise<LoadReport> {
  const leader = cluster.members[await cluster.waitForLeader()]!.clientHostPort;
  const threads = Math.min(connections, count);
  const startedAt = performance.now();
  const child = spawn(
    'wrk',
    [
      '-t',
      String(threads),
      '-c',
      String(threads),
      '-d',
      `${maxSeconds}s`,
      '--timeout',
      '10s',
      '-s',
      LUA_SCRIPT,
      `${cluster.scheme}://${leader}`,
    ],
    {
      env: {
        ...process.env,
        BENCH_SYSTEM: cluster.system === 'kvstore' ? 'kvstore' : 'etcd',
        BENCH_OP: 'load',
        BENCH_TARGETS: leader,
        BENCH_LOAD_FROM: String(from),
        BENCH_LOAD_COUNT: String(count),
        BENCH_LOAD_THREADS: String(threads),
        BENCH_VALUE_SIZE: String(VALUE_SIZE),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  let finished = 0;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    finished += chunk.split('LOAD_THREAD_DONE').length - 1;
    // every share answered: SIGINT makes wrk stop its threads and print its summary
    if (finished >= threads) child.kill('SIGINT');
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`wrk load exited with ${String(code)}: ${stderr}${stdout}`.slice(0, 4000));
  const result = parseLoadResult(stdout);
  const seconds = (performance.now() - startedAt) / 1000;
  // keys never answered (a connection error) count as failed, like answered failures
  const failed = result.failed + (count - result.puts);
  return {
    keys: count,
    seconds,
    keysPerSec: count / seconds,
    failed,
    failureSamples: failed > 0 ? [`${result.failed} non-2xx, ${count - result.puts} unanswered`] : [],
  };
}
