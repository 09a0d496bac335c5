// etcd's own gRPC load generator (`benchmark`, tools/benchmark of etcd 3.6, built by
// bench/tools/build.sh): runs it and turns its text report into the result shape wrk's gives.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BUILD_SCRIPT = fileURLToPath(new URL('../tools/build.sh', import.meta.url));

export interface BenchReport {
  /** successful requests per second over the tool's own window */
  rps: number;
  totalSec: number;
  /** successful requests (the histogram's counts) */
  ok: number;
  errors: number;
  /** error message -> count */
  errorKinds: Record<string, number>;
  averageMs: number;
  slowestMs: number;
  /** percentile ("50", "99", "99.9") -> ms; the tool leaves out percentiles of 0 */
  percentilesMs: Record<string, number>;
}

const SECONDS = String.raw`([0-9.eE+-]+) secs\.`;

/**
 * Parses one report as etcd's pkg/report prints it: "Summary:" with Total/Slowest/Fastest/Average/
 * Stddev/Requests/sec, a "Response time histogram:" of `<bucket> [<count>]`, a "Latency distribution:"
 * of `<p>% in <t> secs.` (10..99.9, entries of 0 omitted) and an optional "Error distribution:" of
 * `[<count>] <message>`. A run where every request failed prints only the error distribution.
 */
export function parseBenchReport(text: string): BenchReport {
  const number = (re: RegExp, what: string): number | null => {
    const match = re.exec(text);
    if (match === null) return null;
    const value = Number(match[1]);
    if (!Number.isFinite(value)) throw new Error(`benchmark report: ${what} is not a number: ${match[0]}`);
    return value;
  };
  const errorKinds: Record<string, number> = {};
  const errorSection = /Error distribution:\n((?:[ \t]+\[\d+\].*(?:\n|$))*)/.exec(text);
  if (errorSection !== null) {
    for (const line of errorSection[1]!.split('\n')) {
      const match = /^\s+\[(\d+)\]\s*(.*)$/.exec(line);
      if (match) errorKinds[match[2]!] = (errorKinds[match[2]!] ?? 0) + Number(match[1]);
    }
  }
  const errors = Object.values(errorKinds).reduce((sum, n) => sum + n, 0);
  const hasSummary = /Summary:/.test(text);
  if (!hasSummary) {
    if (errors > 0)
      return {
        rps: 0,
        totalSec: 0,
        ok: 0,
        errors,
        errorKinds,
        averageMs: 0,
        slowestMs: 0,
        percentilesMs: {},
      };
    throw new Error(`benchmark printed no report:\n${text.slice(-2000)}`);
  }
  const required = (re: RegExp, what: string): number => {
    const value = number(re, what);
    if (value === null) throw new Error(`benchmark report lacks ${what}:\n${text.slice(-2000)}`);
    return value;
  };
  const totalSec = required(new RegExp(`Total:\\s+${SECONDS}`), 'Total');
  const rps = required(/Requests\/sec:\s+([0-9.eE+-]+)/, 'Requests/sec');
  const averageMs = required(new RegExp(`Average:\\s+${SECONDS}`), 'Average') * 1000;
  const slowestMs = required(new RegExp(`Slowest:\\s+${SECONDS}`), 'Slowest') * 1000;
  let ok = 0;
  const histogram = /Response time histogram:\n((?:[ \t]+[0-9.eE+-]+ \[\d+\].*(?:\n|$))*)/.exec(text);
  for (const line of histogram?.[1]?.split('\n') ?? []) {
    const match = /\[(\d+)\]/.exec(line);
    if (match) ok += Number(match[1]);
  }
  const percentilesMs: Record<string, number> = {};
  for (const match of text.matchAll(new RegExp(`^\\s+([0-9.]+)% in ${SECONDS}`, 'gm'))) {
    percentilesMs[match[1]!] = Number(match[2]) * 1000;
  }
  if (ok === 0) ok = Math.round(rps * totalSec);
  return { rps, totalSec, ok, errors, errorKinds, averageMs, slowestMs, percentilesMs };
}

/**
 * The tool leaves a percentile out in two cases: its latency is 0 (watch-latency floors events that
 * beat the put's answer to 0; then a higher percentile is present), or the run had too few samples
 * to reach it (fewer than 1,000 for 99.9 %; then no higher one is present and the nearest-rank
 * value is the slowest request).
 */
export function percentileMs(report: BenchReport, p: '50' | '99' | '99.9'): number {
  const value = report.percentilesMs[p];
  if (value !== undefined) return value;
  if (report.ok === 0) return Number.NaN;
  const higher = Object.keys(report.percentilesMs).some((q) => Number(q) > Number(p));
  return higher ? 0 : report.slowestMs;
}

/** watch-latency prints two reports, "Put summary:" then "Watch events summary:". */
export function splitWatchLatency(text: string): { put: BenchReport; watch: BenchReport } {
  const at = text.indexOf('Watch events summary:');
  const putAt = text.indexOf('Put summary:');
  if (at < 0 || putAt < 0) throw new Error(`watch-latency printed no summaries:\n${text.slice(-2000)}`);
  return { put: parseBenchReport(text.slice(putAt, at)), watch: parseBenchReport(text.slice(at)) };
}

/**
 * Makes sure etcd 3.6 and the benchmark tool are built (bench/tools/build.sh: cached outside the
 * checkout, keyed by the pins, under a lock) and returns their bin dir.
 */
export function ensureEtcd36(log: (line: string) => void): string {
  const dir = spawnSync('bash', [BUILD_SCRIPT, '--print-dir'], { encoding: 'utf8' });
  if (dir.status !== 0) throw new Error(`bench/tools/build.sh --print-dir failed: ${dir.stderr}`);
  const binDir = dir.stdout.trim();
  const started = performance.now();
  const result = spawnSync('bash', [BUILD_SCRIPT], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (result.status !== 0)
    throw new Error(`building etcd 3.6 failed (bench/tools/build.sh exit ${String(result.status)})`);
  const seconds = (performance.now() - started) / 1000;
  if (seconds > 5) log(`bench: etcd 3.6 build took ${seconds.toFixed(0)} s`);
  return binDir;
}

export interface BenchToolRun {
  bin: string;
  args: string[];
  timeoutMs: number;
}

/** Runs the tool; resolves with stdout (the report), rejects on a non-zero exit or timeout. */
export async function runBenchTool(run: BenchToolRun): Promise<string> {
  const child = spawn(run.bin, run.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  // the progress bar goes to stderr: keep only the tail
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), run.timeoutMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  clearTimeout(timer);
  if (code !== 0)
    throw new Error(
      `benchmark ${run.args.join(' ')} exited with ${String(code ?? 'a signal (timeout?)')}: ${stderr.slice(-1500)}${stdout.slice(-1500)}`,
    );
  return stdout;
}
