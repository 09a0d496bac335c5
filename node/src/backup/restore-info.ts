// What a restore wrote into a data directory, for whoever asks later: kvctl writes
// DATA_DIR/restored-from.json beside the state (LevelDB ignores files it does not name), and the
// member reports it in /v1/status as `restoredFrom`, so the operator can say what its recovered
// cluster holds (index, point in time, keys) without reading the bucket or any pod log.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const RESTORE_INFO_FILE = 'restored-from.json';
const MAX_BYTES = 64 * 1024;

export interface RestoreInfo {
  /** s3://bucket/prefix, or the snapshot file restored. */
  source: string;
  /** What was asked: latest, index N or time T. */
  target: string;
  index: number;
  term: number;
  keys: number;
  /** The state's point in time (ISO 8601): the snapshot's capture, or the last replayed entry's stamp. */
  pointInTime: string;
  clusterId: string;
  restoredAt: string;
}

export async function writeRestoreInfo(dir: string, info: RestoreInfo): Promise<void> {
  await writeFile(join(dir, RESTORE_INFO_FILE), `${JSON.stringify(info)}\n`, { flag: 'wx' });
}

/** The file's record; null when there is none, or it is not one (a member never fails over it). */
export async function readRestoreInfo(dir: string): Promise<RestoreInfo | null> {
  let text: string;
  try {
    const buf = await readFile(join(dir, RESTORE_INFO_FILE));
    if (buf.byteLength > MAX_BYTES) return null;
    text = buf.toString('utf8');
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as Partial<RestoreInfo>;
    const ok =
      typeof v.source === 'string' &&
      typeof v.target === 'string' &&
      Number.isSafeInteger(v.index) &&
      Number.isSafeInteger(v.term) &&
      Number.isSafeInteger(v.keys) &&
      typeof v.pointInTime === 'string' &&
      typeof v.clusterId === 'string' &&
      typeof v.restoredAt === 'string';
    return ok ? (v as RestoreInfo) : null;
  } catch {
    return null;
  }
}
