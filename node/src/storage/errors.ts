// Errors raised by the data layer. Both carry enough detail for the node to
// print one clear line and exit, instead of serving data it cannot trust.

export type DataDirErrorCode =
  | 'cluster-id-mismatch'
  | 'member-id-mismatch'
  | 'member-removed'
  | 'unknown-format'
  /** The directory held a member whose log or hard state is gone (docs/adr/0066). */
  | 'lost-state'
  /** Another process holds LevelDB's LOCK file. */
  | 'locked'
  /** The directory cannot be created or written (read-only file system, permissions). */
  | 'not-writable';

/** The data directory exists but must not be used by this process. */
export class DataDirError extends Error {
  readonly code: DataDirErrorCode;
  constructor(code: DataDirErrorCode, message: string) {
    super(message);
    this.name = 'DataDirError';
    this.code = code;
  }
}

/** Stored bytes failed their checksum or are structurally impossible (e.g. a gap in the log). */
export class CorruptionError extends Error {
  /** The record that is broken: a storage key (printable form) or a section of a snapshot. */
  readonly key: string;
  constructor(key: string, reason: string) {
    super(`corrupt data at ${key}: ${reason}`);
    this.name = 'CorruptionError';
    this.key = key;
  }
}

/**
 * The device holding the data directory is full (ENOSPC, EDQUOT). Writes are held and retried
 * (DiskStorage.diskFull says so meanwhile); this error reaches a caller only for work that is
 * dropped rather than held (a snapshot file) or when the storage closes while still full.
 */
export class DiskFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiskFullError';
  }
}

const NO_SPACE = /no space left on device|ENOSPC|disk quota exceeded|EDQUOT/i;

/** Whether `err` (a Node fs error, or a LevelDB error whose cause says so) means the disk is full. */
export function isDiskFull(err: unknown): boolean {
  if (err instanceof DiskFullError) return true;
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const x = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (x.code === 'ENOSPC' || x.code === 'EDQUOT') return true;
    if (typeof x.message === 'string' && NO_SPACE.test(x.message)) return true;
    e = x.cause;
  }
  return false;
}

export function diskFullMessage(err: unknown): string {
  let detail = '';
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const x = e as { message?: unknown; cause?: unknown };
    if (typeof x.message === 'string' && NO_SPACE.test(x.message)) detail = x.message;
    e = x.cause;
  }
  return `no space left on the device holding the data directory${detail ? ` (${detail})` : ''}`;
}
