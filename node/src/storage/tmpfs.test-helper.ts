// A small tmpfs for tests that need a real full or read-only file system. Needs root (and a kernel
// that lets this process mount); returns null otherwise so the test can skip.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  path: string;
  remount(mode: 'ro' | 'rw'): Promise<void>;
  unmount(): Promise<void>;
}

export function mountTmpfs(size: string): Promise<Tmpfs | null> {
  if (process.getuid?.() !== 0) return Promise.resolve(null);
  const path = mkdtempSync(join(tmpdir(), 'kv-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { stdio: 'ignore' });
  } catch {
    rmSync(path, { recursive: true, force: true });
    return Promise.resolve(null);
  }
  return Promise.resolve({
    path,
    remount: (mode) => {
      execFileSync('mount', ['-o', `remount,${mode}`, path], { stdio: 'ignore' });
      return Promise.resolve();
    },
    unmount: () => {
      execFileSync('umount', ['-l', path], { stdio: 'ignore' });
      rmSync(path, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
}

/** Fills the file system holding `dir` with a filler file until ENOSPC; remove() frees the space. */
export function fillDisk(dir: string): Promise<{ remove(): void }> {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  // Whatever a smaller write still fits.
  try {
    for (;;) writeSync(fd, chunk, 0, 512);
  } catch {
    // full
  }
  closeSync(fd);
  return Promise.resolve({ remove: () => rmSync(path, { force: true }) });
}
