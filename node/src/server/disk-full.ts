// While the disk holding the data directory is full, DiskStorage holds the
// batch that could not land and retries it (storage/disk-storage.ts drain); the
// Ready loop simply waits for it. New writes are refused meanwhile with a clear
// code rather than queued behind it until they time out; reads keep working.
import { kvError } from '../errors.ts';

export function assertDiskWritable(storage: {
  readonly diskFull: { since: number; message: string } | null;
}): void {
  const full = storage.diskFull;
  if (full === null) return;
  throw kvError(
    'disk-full',
    `${full.message} since ${new Date(full.since).toISOString()}: writes are refused until space is freed; reads still work`,
  );
}
