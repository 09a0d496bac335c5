// CPU accounting from /proc: utime + stime of each cluster member (all its threads) over the
// measured window, plus the load generator. The load generator is a child of this process that
// exits inside the window, so its whole life shows up in this process's cutime + cstime (the
// kernel adds a child's times there when it is reaped); an in-process load generator (the kv-store
// watch client) is counted through this process's own utime + stime instead.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcTimes {
  /** user + system time of the process itself, in clock ticks */
  selfTicks: number;
  /** user + system time of its reaped children, in clock ticks */
  childrenTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself hold spaces
 * or parentheses, so fields are counted from the last ')': utime, stime, cutime, cstime are fields
 * 14-17 of the whole line.
 */
export function parseProcStat(text: string): ProcTimes {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 100)}`);
  // after ')' comes field 3 (state); field n is at index n - 3
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const field = (n: number): number => {
    const value = Number(fields[n - 3]);
    if (!Number.isFinite(value))
      throw new Error(`/proc stat field ${n} is not a number: ${text.slice(0, 200)}`);
    return value;
  };
  return { selfTicks: field(14) + field(15), childrenTicks: field(16) + field(17) };
}

let clockTicks: number | undefined;

/** USER_HZ (`getconf CLK_TCK`), 100 on every Linux we run on. */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const value = Number((result.stdout ?? '').trim());
    clockTicks = result.status === 0 && Number.isInteger(value) && value > 0 ? value : 100;
  }
  return clockTicks;
}

export function procTimes(pid: number | 'self'): ProcTimes {
  return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

export interface CpuSample {
  members: ProcTimes[];
  harness: ProcTimes;
}

export function sampleCpu(memberPids: readonly number[]): CpuSample {
  return { members: memberPids.map((pid) => procTimes(pid)), harness: procTimes('self') };
}

export interface CpuUsage {
  /** CPU-seconds of each member over the window */
  memberSeconds: number[];
  /** CPU-seconds of the load generator (children reaped in the window, or this process) */
  loadGeneratorSeconds: number;
  totalSeconds: number;
}

/**
 * CPU used between two samples. `loadGenerator` says where the load generator's time is:
 * 'children' (a wrk or benchmark child that exited in the window) or 'self' (in-process).
 */
export function cpuBetween(
  before: CpuSample,
  after: CpuSample,
  loadGenerator: 'children' | 'self',
  ticks = ticksPerSecond(),
): CpuUsage {
  if (before.members.length !== after.members.length)
    throw new Error('cpuBetween: samples of different member sets');
  const memberSeconds = after.members.map((a, i) => (a.selfTicks - before.members[i]!.selfTicks) / ticks);
  const harnessDelta =
    loadGenerator === 'children'
      ? after.harness.childrenTicks - before.harness.childrenTicks
      : after.harness.selfTicks - before.harness.selfTicks;
  const loadGeneratorSeconds = harnessDelta / ticks;
  const totalSeconds = memberSeconds.reduce((sum, s) => sum + s, 0) + loadGeneratorSeconds;
  return { memberSeconds, loadGeneratorSeconds, totalSeconds };
}

/** CPU-seconds per 1,000 requests, or null without requests. */
export function cpuPerKiloRequest(usage: CpuUsage, requests: number): number | null {
  return requests > 0 ? (usage.totalSeconds / requests) * 1000 : null;
}
