// POST /v1/cluster/backup: a full snapshot to the archive's bucket now (the operator's KVBackup,
// docs/adr/0075). The leader's archiver takes it in its own loop (one upload at a time), with the
// credentials the member already has; the answer names the object. Under /v1/cluster/, so with
// auth on it needs the root role. A follower answers 503 not-leader (ask the leader); a member
// without -backup-s3-url answers 409 backup-not-configured.
import type Router from '@koa/router';
import { kvError } from '../errors.ts';
import { noQuery } from '../http/request.ts';
import { NotUploadingError, type FullSnapshotInfo } from './archiver.ts';

export const BACKUP_ROUTE = '/v1/cluster/backup';
/** How long one request waits for the upload: a large state takes a while to capture and send. */
const UPLOAD_TIMEOUT_MS = 120_000;

export interface BackupSource {
  /** null: archiving is off on this member. */
  archiver(): { requestFull(timeoutMs: number): Promise<FullSnapshotInfo>; bucketUrl: string } | null;
}

export interface BackupAnswer {
  index: number;
  takenAt: string;
  keys: number;
  bytes: number;
  key: string;
  /** s3://bucket/key of the object. */
  object: string;
}

export function registerBackupRoute(router: Router, source: BackupSource): void {
  router.post(BACKUP_ROUTE, async (ctx) => {
    noQuery(ctx);
    const a = source.archiver();
    if (a === null)
      throw kvError('backup-not-configured', 'this member does not archive (started without -backup-s3-url)');
    let info: FullSnapshotInfo;
    try {
      info = await a.requestFull(UPLOAD_TIMEOUT_MS);
    } catch (e) {
      if (e instanceof NotUploadingError) throw kvError('not-leader', e.message);
      throw kvError('unavailable', `the snapshot was not uploaded: ${(e as Error).message}`);
    }
    const bucket = /^s3:\/\/([^/]+)/.exec(a.bucketUrl)?.[1] ?? '';
    const answer: BackupAnswer = {
      index: info.index,
      takenAt: new Date(info.takenAt).toISOString(),
      keys: info.keys,
      bytes: info.bytes,
      key: info.key,
      object: `s3://${bucket}/${info.key}`,
    };
    ctx.body = answer;
  });
}
