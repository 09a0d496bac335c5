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
