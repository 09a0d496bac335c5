// Evidence, outside LevelDB, that a data directory has held a member: the
// identity file written once the member's first records are synced, and
// snapshot files. A directory whose LevelDB has no kv-store records while either
// remains has lost its state (its log, hard state and vote): it must not be
// initialised again as if it were new, or the member would bootstrap or rejoin
// under the same id having forgotten the term and vote it gave (docs/adr/0066).
//
// Not evidence: LevelDB's own files without records. LevelDB creates them when
// it opens, before the first batch lands, so a crash during the very first
// start leaves exactly that, and starting again is safe (nothing was promised).
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { SNAPSHOT_DIR } from './snapshot-files.ts';

export const IDENTITY_FILE = 'kv-store-member.json';

export interface Identity {
  memberId: string;
  createdAt: string;
}

/** What in `dir` shows a member lived here before; empty when nothing does. */
export async function priorEvidence(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    const raw = await readFile(join(dir, IDENTITY_FILE), 'utf8');
    let who = '';
    try {
      const v = JSON.parse(raw) as Partial<Identity>;
      if (typeof v.memberId === 'string') who = ` of member ${v.memberId}`;
    } catch {
      // Present is evidence enough.
    }
    out.push(`the identity file ${join(dir, IDENTITY_FILE)}${who}`);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  try {
    const snaps = (await readdir(join(dir, SNAPSHOT_DIR))).filter((n) => n.endsWith('.snap'));
    if (snaps.length > 0) out.push(`${snaps.length} snapshot file(s) in ${join(dir, SNAPSHOT_DIR)}`);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  return out;
}

export async function hasIdentity(dir: string): Promise<boolean> {
  try {
    await readFile(join(dir, IDENTITY_FILE));
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** Writes the identity file durably (temporary name, fsync, rename, directory fsync). */
export async function writeIdentity(dir: string, memberId: string): Promise<void> {
  const body = JSON.stringify({ memberId, createdAt: new Date().toISOString() } satisfies Identity) + '\n';
  const tmp = join(dir, `${IDENTITY_FILE}.${randomBytes(4).toString('hex')}.tmp`);
  const f = await open(tmp, 'w');
  try {
    await f.writeFile(body);
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, join(dir, IDENTITY_FILE));
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
