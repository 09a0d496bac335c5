// `kvctl restore --from s3://...`: the archive's state at the target, into a new member's data dir.
import { stateFromArchive, type RestoreGoal } from '../backup/archive-reader.ts';
import { parseS3Url } from '../backup/archive-layout.ts';
import { restoreDataDir, type RestoreResult, type RestoreTarget } from '../backup/restore.ts';
import { ObjectStore } from '../backup/s3.ts';

export async function restoreFromArchive(
  from: { url: string; endpoint?: string },
  goal: RestoreGoal,
  target: RestoreTarget,
): Promise<
  RestoreResult & { snapshotIndex: number; replayed: number; archivedIndex: number; pointInTime: number }
> {
  const store = new ObjectStore({
    ...parseS3Url(from.url),
    ...(from.endpoint ? { endpoint: from.endpoint } : {}),
  });
  try {
    const s = await stateFromArchive(store, goal);
    const r = await restoreDataDir(s.point, target);
    return {
      ...r,
      snapshotIndex: s.snapshotIndex,
      replayed: s.replayed,
      archivedIndex: s.archivedIndex,
      pointInTime: s.point.pointInTime,
    };
  } finally {
    store.destroy();
  }
}
