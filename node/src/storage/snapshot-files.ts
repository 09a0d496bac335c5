// Snapshot data lives in plain files beside the LevelDB log (`<data-dir>/snap/`),
// not in LevelDB: writing tens of megabytes through LevelDB made its memtable
// flush and compact, and the synced Raft writes queued behind that (PUT p99 grew
// tenfold every snapshot). A file is written under a temporary name, fsynced,
// renamed and its directory fsynced; only then does a LevelDB record name it,
// so a record never points at a partial file. Files no record names are garbage.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { CorruptionError } from './errors.ts';

export const SNAPSHOT_DIR = 'snap';
/** Bytes written (and checksummed) per step, so a large snapshot never blocks the event loop for long. */
const SLICE_BYTES = 1 << 20;
/**
 * Flush to disk every so many bytes while writing: one fsync of a whole large
 * snapshot at the end would hold the disk long enough to stall the Raft log's
 * own fsyncs (every acknowledged write waits on those).
 */
const SYNC_EVERY_BYTES = 8 << 20;
const SUFFIX = '.snap';

export interface SnapshotFile {
  /** File name inside the snapshot directory. */
  file: string;
  size: number;
  crc: number;
}

export class SnapshotFiles {
  readonly dir: string;
  /**
   * Files being written or written but not yet recorded or removed by their writer: garbage
   * collection (removeAllExcept) leaves them alone, or a snapshot received from the leader could
   * delete the file of one this node is still saving.
   */
  private readonly busy = new Set<string>();

  constructor(dataDir: string) {
    this.dir = join(dataDir, SNAPSHOT_DIR);
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** A new, unique name for the snapshot at `index` (unique so two writers never share a file). */
  static nameFor(index: number): string {
    return `${index.toString(16).padStart(16, '0')}-${randomBytes(4).toString('hex')}${SUFFIX}`;
  }

  /**
   * Writes `parts` (in order) durably under `file`; returns its size and CRC32.
   * `parts` is consumed lazily, each part written before the next is asked for,
   * so a generator may reuse one buffer for all of them.
   */
  async write(file: string, parts: Iterable<Uint8Array>): Promise<SnapshotFile> {
    this.busy.add(file);
    this.busy.add(`${file}.tmp`);
    try {
      return await this.writeFile(file, parts);
    } catch (err) {
      this.busy.delete(file);
      throw err;
    } finally {
      this.busy.delete(`${file}.tmp`);
    }
  }

  /** The writer of `file` has recorded it (or given it up): it is ordinary garbage-collection material again. */
  settled(file: string): void {
    this.busy.delete(file);
  }

  private async writeFile(file: string, parts: Iterable<Uint8Array>): Promise<SnapshotFile> {
    const tmp = join(this.dir, `${file}.tmp`);
    const handle = await open(tmp, 'w');
    let size = 0;
    let crc = 0;
    let unsynced = 0;
    try {
      for (const part of parts) {
        for (let at = 0; at < part.byteLength; at += SLICE_BYTES) {
          const slice = part.subarray(at, Math.min(part.byteLength, at + SLICE_BYTES));
          crc = crc32(slice, crc);
          size += slice.byteLength;
          unsynced += slice.byteLength;
          await writeAll(handle, slice);
          if (unsynced >= SYNC_EVERY_BYTES) {
            await handle.datasync();
            unsynced = 0;
          }
        }
      }
      await handle.sync();
    } catch (err) {
      await handle.close();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await handle.close();
    await rename(tmp, join(this.dir, file));
    await this.syncDir();
    return { file, size, crc };
  }

  /** Cheap check at open: the file exists with the recorded size (read() verifies the checksum). */
  async check(rec: SnapshotFile, recordName: string): Promise<void> {
    const { size } = await stat(join(this.dir, rec.file)).catch((err: unknown) => {
      throw missingAsCorruption(err, rec, recordName);
    });
    if (size !== rec.size) {
      throw new CorruptionError(
        recordName,
        `snapshot file ${rec.file} is ${size} bytes, its record says ${rec.size}`,
      );
    }
  }

  /** Reads a snapshot file whole, verifying the size and checksum its record holds. */
  async read(rec: SnapshotFile, recordName: string): Promise<Buffer> {
    const handle = await open(join(this.dir, rec.file), 'r').catch((err: unknown) => {
      throw missingAsCorruption(err, rec, recordName);
    });
    const data = Buffer.allocUnsafe(rec.size);
    let crc = 0;
    try {
      let at = 0;
      while (at < rec.size) {
        const { bytesRead } = await handle.read(data, at, Math.min(SLICE_BYTES, rec.size - at), at);
        if (bytesRead === 0) break;
        crc = crc32(data.subarray(at, at + bytesRead), crc);
        at += bytesRead;
      }
      if (at !== rec.size || (await handle.read(Buffer.alloc(1), 0, 1, at)).bytesRead !== 0) {
        throw new CorruptionError(recordName, `snapshot file ${rec.file} is not ${rec.size} bytes long`);
      }
    } finally {
      await handle.close();
    }
    if (crc !== rec.crc)
      throw new CorruptionError(recordName, `snapshot file ${rec.file} fails its checksum`);
    return data;
  }

  async remove(file: string): Promise<void> {
    await unlink(join(this.dir, file)).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    });
  }

  /**
   * Deletes every file but `keep` and those being written (crash leftovers: temporaries,
   * superseded or never-recorded snapshots).
   */
  async removeAllExcept(keep: (name: string) => boolean): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.dir)) {
      // Asked per file, just before deleting it: what is live may have changed meanwhile.
      if (keep(name) || this.busy.has(name)) continue;
      await this.remove(name);
      removed.push(name);
    }
    return removed;
  }

  private async syncDir(): Promise<void> {
    const handle = await open(this.dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.byteLength;) {
    const { bytesWritten } = await handle.write(data, at, data.byteLength - at);
    at += bytesWritten;
  }
}

/** A recorded snapshot file that is gone is corruption of the data directory, not an I/O error. */
function missingAsCorruption(err: unknown, rec: SnapshotFile, recordName: string): unknown {
  return (err as NodeJS.ErrnoException).code === 'ENOENT'
    ? new CorruptionError(recordName, `snapshot file ${rec.file} is missing`)
    : err;
}
