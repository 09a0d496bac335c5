// Failures of saving, archiving, verifying and restoring backups: one class, a code naming what is
// wrong, a message naming the file or object. kvctl prints them as `kvctl: <code>: <message>`.

export type BackupErrorCode =
  /** A file or object is damaged: checksum, shape, index or key count disagree. */
  | 'corrupt'
  /** A file or object the restore needs is not there. */
  | 'not-found'
  /** The archive's chain has a gap, or does not reach the requested point. */
  | 'broken-chain'
  /** The target data directory is not empty. */
  | 'data-dir-not-empty'
  | 'file-exists'
  | 'invalid-target';

export class BackupError extends Error {
  readonly code: BackupErrorCode;
  constructor(code: BackupErrorCode, message: string) {
    super(message);
    this.name = 'BackupError';
    this.code = code;
  }
}
