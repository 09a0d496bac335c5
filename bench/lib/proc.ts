// Child processes of the benchmark: spawned with their output in a log file, always reaped.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';

const children = new Set<ChildProcess>();

process.on('exit', () => {
  // last resort (crash, Ctrl-C): never leave cluster members running
  for (const child of children) child.kill('SIGKILL');
});

export function spawnLogged(
  command: string,
  args: readonly string[],
  logFile: string,
  env?: NodeJS.ProcessEnv,
): ChildProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  closeSync(fd);
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', () => children.delete(child));
  return child;
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function exited(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function killHard(child: ChildProcess): Promise<void> {
  if (isRunning(child)) child.kill('SIGKILL');
  await exited(child);
}

/** SIGTERM, then SIGKILL if it has not exited after graceMs. */
export async function stopGraceful(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (!isRunning(child)) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited(child);
  clearTimeout(timer);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface MemoryUsage {
  rssBytes: number;
  rssAnonBytes: number;
  rssFileBytes: number;
}

/** Resident memory of a process from /proc/<pid>/status (kB fields). */
export function memoryOf(pid: number): MemoryUsage {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  };
  return { rssBytes: field('VmRSS'), rssAnonBytes: field('RssAnon'), rssFileBytes: field('RssFile') };
}

/** Apparent size in bytes of everything under a directory (du -sb). */
export function diskBytes(dir: string): number {
  const result = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  const bytes = Number((result.stdout ?? '').split('\t')[0]);
  if (result.status !== 0 || !Number.isFinite(bytes))
    throw new Error(`du -sb ${dir} failed: ${result.stderr}`);
  return bytes;
}

/** Allocated size in bytes (du -sk * 1024): counts preallocated but unwritten space differently. */
export function diskAllocatedBytes(dir: string): number {
  const result = spawnSync('du', ['-sk', dir], { encoding: 'utf8' });
  const kib = Number((result.stdout ?? '').split('\t')[0]);
  if (result.status !== 0 || !Number.isFinite(kib)) throw new Error(`du -sk ${dir} failed: ${result.stderr}`);
  return kib * 1024;
}

export function tailOfFile(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
