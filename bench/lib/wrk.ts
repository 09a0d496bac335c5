// Runs wrk with bench/lua/bench.lua and turns its BENCH_RESULT line into numbers.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const LUA_SCRIPT = fileURLToPath(new URL('../lua/bench.lua', import.meta.url));

export type Operation = 'put' | 'get' | 'mixed';
export type Protocol = 'etcd' | 'kvstore';

export interface WrkRaw {
  requests: number;
  durationUs: number;
  responses: number;
  non2xx: number;
  connectErrors: number;
  readErrors: number;
  writeErrors: number;
  timeouts: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  meanUs: number;
}

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** requests completed (2xx or not) */
  requests: number;
  /** non-2xx responses plus socket errors and timeouts */
  errors: number;
  raw: WrkRaw;
}

const NUMERIC_FIELDS = [
  'requests',
  'durationUs',
  'responses',
  'non2xx',
  'connectErrors',
  'readErrors',
  'writeErrors',
  'timeouts',
  'p50Us',
  'p90Us',
  'p99Us',
  'p999Us',
  'maxUs',
  'meanUs',
] as const satisfies readonly (keyof WrkRaw)[];

export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (line === undefined) throw new Error(`wrk printed no BENCH_RESULT line:\n${stdout.slice(-2000)}`);
  const parsed = JSON.parse(line.slice('BENCH_RESULT '.length)) as Record<string, unknown>;
  const raw = {} as WrkRaw;
  for (const field of NUMERIC_FIELDS) {
    const value = parsed[field];
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new Error(`BENCH_RESULT lacks numeric ${field}: ${line}`);
    raw[field] = value;
  }
  const seconds = raw.durationUs / 1e6;
  return {
    rps: seconds > 0 ? raw.requests / seconds : 0,
    p50Ms: raw.p50Us / 1000,
    p99Ms: raw.p99Us / 1000,
    p999Ms: raw.p999Us / 1000,
    requests: raw.requests,
    errors: raw.non2xx + raw.connectErrors + raw.readErrors + raw.writeErrors + raw.timeouts,
    raw,
  };
}

/**
 * wrk gives each thread connections/threads connections, so pick the largest divisor of the
 * connection count up to 16: enough threads to spread reads over three nodes evenly-ish
 * (thread i -> node i mod 3), few enough not to crowd a 2-core machine.
 */
export function threadsFor(connections: number): number {
  for (let threads = Math.min(connections, 16); threads > 1; threads--) {
    if (connections % threads === 0) return threads;
  }
  return 1;
}

export interface WrkRun {
  /** which HTTP API: etcd's JSON gateway or kv-store's */
  protocol: Protocol;
  op: Operation;
  /** GET share of a mixed load, in percent */
  readPercent?: number;
  /** host:port list; wrk thread i targets entry i mod n */
  targets: readonly string[];
  connections: number;
  durationSec: number;
  keyspace: number;
  valueSize: number;
  /** https: wrk speaks TLS to every target (the server's certificate is not verified by wrk) */
  scheme?: 'http' | 'https';
}

export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const [first] = run.targets;
  if (first === undefined) throw new Error('runWrk needs at least one target');
  const args = [
    '-t',
    String(threadsFor(run.connections)),
    '-c',
    String(run.connections),
    '-d',
    `${run.durationSec}s`,
    '--timeout',
    '10s',
    '-s',
    LUA_SCRIPT,
    `${run.scheme ?? 'http'}://${first}`,
  ];
  const env = {
    ...process.env,
    BENCH_SYSTEM: run.protocol,
    BENCH_READ_PERCENT: String(run.readPercent ?? 90),
    BENCH_OP: run.op,
    BENCH_TARGETS: run.targets.join(','),
    BENCH_KEYS: String(run.keyspace),
    BENCH_VALUE_SIZE: String(run.valueSize),
  };
  const child = spawn('wrk', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`wrk exited with ${String(code)}: ${stderr}${stdout}`.slice(0, 4000));
  return parseWrkOutput(stdout);
}
