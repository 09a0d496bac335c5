// `kvctl restore --if-empty` (the operator's recovery init step, docs/adr/0075): restore into a
// data directory only when it holds no data, and never leave a half-written one that a member
// would take for its state. The restore is written into DIR/.kvctl-restore, marked complete (with
// its result), then moved into DIR entry by entry (renames on one file system), then the staging
// directory is removed. Started again after a crash: a complete staging directory is moved in
// (the restore is finished, not repeated); an incomplete one is deleted and the restore redone.
// `lost+found` (the root of an ext4 volume) is not data.
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupError } from './errors.ts';

export const STAGING_DIR = '.kvctl-restore';
const COMPLETE = '.complete';
const NOT_DATA = new Set([STAGING_DIR, 'lost+found']);

export type StagedOutcome<R> =
  | { kind: 'restored'; result: R }
  /** An earlier run had written the restore completely: moved in now. */
  | { kind: 'finished'; result: R }
  /** The directory holds data: nothing was written. */
  | { kind: 'skipped'; entries: string[] };

export async function restoreIfEmpty<R>(
  dataDir: string,
  restore: (stagingDir: string) => Promise<R>,
): Promise<StagedOutcome<R>> {
  await mkdir(dataDir, { recursive: true });
  const staging = join(dataDir, STAGING_DIR);
  const names = await readdir(dataDir);
  if (names.includes(STAGING_DIR)) {
    const done = await readFile(join(staging, COMPLETE), 'utf8').catch(() => null);
    if (done !== null) {
      await moveIn(staging, dataDir);
      return { kind: 'finished', result: JSON.parse(done) as R };
    }
    await rm(staging, { recursive: true, force: true });
  }
  const data = names.filter((n) => !NOT_DATA.has(n));
  if (data.length > 0) return { kind: 'skipped', entries: data };
  const result = await restore(staging);
  await writeFile(join(staging, COMPLETE), JSON.stringify(result), { flag: 'wx' });
  await fsyncPath(join(staging, COMPLETE));
  await fsyncPath(staging);
  await moveIn(staging, dataDir);
  return { kind: 'restored', result };
}

async function moveIn(staging: string, dataDir: string): Promise<void> {
  for (const name of await readdir(staging)) {
    if (name === COMPLETE) continue;
    try {
      await rename(join(staging, name), join(dataDir, name));
    } catch (e) {
      throw new BackupError(
        'invalid-target',
        `could not move ${name} of the restore into ${dataDir}: ${(e as Error).message}`,
      );
    }
  }
  await fsyncPath(dataDir);
  // The marker goes last: until then a restart finishes the move.
  await rm(staging, { recursive: true, force: true });
  await fsyncPath(dataDir);
}

async function fsyncPath(path: string): Promise<void> {
  const f = await open(path, 'r');
  try {
    await f.sync();
  } finally {
    await f.close();
  }
}
