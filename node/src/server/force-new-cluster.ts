// Forced new configuration after a permanent quorum loss (docs/adr/0077), as etcd's
// --force-new-cluster: a surviving member rewrites the membership in its own storage to itself
// alone, keeping the cluster id and every entry it holds, then starts as a one-member cluster the
// operator grows back through the normal learner/promote path.
//
// How, Raft-wise: after the last entry the member holds (committed or not), one RemoveNode entry
// per other member, each stamped with the configuration that results (`after`, ADR 0025), at term
// T+1 where T is the hard state's term; the hard state moves to term T+1, no vote, and commits
// everything up to the last new entry. Committing by fiat is the forced part: the old majority is
// gone, so nothing else could commit it. Entries past the old commit index are kept rather than
// dropped (etcd drops them): one of them may be a write the old leader acknowledged with this
// member in its majority, and committing a write whose client saw no answer is allowed.
//
// Explicit, logged and idempotent: it runs only on request (the offline `kv-store force-new-cluster`
// subcommand, or a request file written by `POST /v1/cluster/force-new-cluster`), one synced batch
// does it, and a member whose latest configuration is already itself alone, or whose log already
// holds the entries of the same request, does nothing again.
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeConfChange, encodeConfChange, type LoggedConfChange } from '../raft/conf-change.ts';
import { confAfter as confDelta } from '../raft/raft.ts';
import type { Storage } from '../raft/storage.ts';
import { ConfChangeType, EntryType, type ConfState, type Entry, type HardState } from '../raft/types.ts';
import type { PersistRequest } from '../storage/disk-storage.ts';

/** Written into the data directory by the HTTP request; read (and removed) by the next start. */
export const FORCE_REQUEST_FILE = 'kv-store-force-new-cluster.json';
/** The key in a forced entry's context naming the request (so a repeated request is recognised). */
const FORCED_CONTEXT_KEY = 'forceNewCluster';

export interface ForceRequest {
  requestId: string;
  requestedAt: string;
}

export class ForceNewClusterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForceNewClusterError';
  }
}

export type ForcePlan =
  | { kind: 'already-done'; reason: string; confState: ConfState }
  | {
      kind: 'rewrite';
      before: ConfState;
      removed: string[];
      entries: Entry[];
      hardState: HardState;
    };

/** The configuration the member's log ends with: the snapshot's, then every conf change it holds. */
export function latestConfState(storage: Storage): ConfState {
  let cs = storage.snapshot().metadata.confState;
  for (const e of confEntries(storage)) cs = confAfter(cs, decodeConfChange(e.data));
  return { voters: [...cs.voters].sort(), learners: [...cs.learners].sort() };
}

/** What forcing `selfId` alone would write (pure over the storage's contents). */
export function planForceNewCluster(storage: Storage, selfId: string, requestId: string): ForcePlan {
  if (requestId === '') throw new ForceNewClusterError('a request id is required');
  const before = latestConfState(storage);
  for (const e of confEntries(storage)) {
    if (forcedRequestOf(decodeConfChange(e.data)) === requestId)
      return {
        kind: 'already-done',
        reason: `request ${requestId} is in the log at ${e.index}`,
        confState: before,
      };
  }
  if (!before.voters.includes(selfId)) {
    throw new ForceNewClusterError(
      `member ${selfId} is not a voter of its latest configuration (voters ${before.voters.join(',') || 'none'}, ` +
        `learners ${before.learners.join(',') || 'none'}); only a voter's log holds every committed entry it saw`,
    );
  }
  const others = [...before.voters, ...before.learners].filter((id) => id !== selfId).sort();
  if (others.length === 0)
    return { kind: 'already-done', reason: `member ${selfId} is already the only member`, confState: before };
  const { hardState } = storage.initialState();
  const last = storage.lastIndex();
  const term = hardState.term + 1;
  let cs = before;
  const entries = others.map((id, i): Entry => {
    const cc: LoggedConfChange = {
      type: ConfChangeType.RemoveNode,
      nodeId: id,
      context: JSON.stringify({ [FORCED_CONTEXT_KEY]: requestId }),
    };
    cs = confAfter(cs, cc);
    return {
      term,
      index: last + 1 + i,
      type: EntryType.ConfChange,
      data: encodeConfChange({ ...cc, after: cs }),
    };
  });
  return {
    kind: 'rewrite',
    before,
    removed: others,
    entries,
    hardState: { term, vote: null, commit: last + entries.length },
  };
}

export interface ForceLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/** Plans and writes the forced configuration in one synced batch (before Raft starts). */
export async function forceNewCluster(
  storage: Storage & { persist(p: PersistRequest): Promise<void> },
  selfId: string,
  requestId: string,
  log: ForceLog,
): Promise<ForcePlan> {
  const plan = planForceNewCluster(storage, selfId, requestId);
  if (plan.kind === 'already-done') {
    log.info('force-new-cluster: nothing to do', { requestId, reason: plan.reason });
    return plan;
  }
  log.warn('force-new-cluster: rewriting the membership to this member alone', {
    requestId,
    member: selfId,
    votersBefore: plan.before.voters,
    learnersBefore: plan.before.learners,
    removed: plan.removed,
    oldCommit: storage.initialState().hardState.commit,
    lastIndex: storage.lastIndex(),
    newCommit: plan.hardState.commit,
    newTerm: plan.hardState.term,
  });
  await storage.persist({ entries: plan.entries, hardState: plan.hardState, snapshot: null });
  log.warn('force-new-cluster: done; this member now forms a one-member cluster', {
    requestId,
    commit: plan.hardState.commit,
  });
  return plan;
}

// ---- the request file ---------------------------------------------------------

export async function readForceRequest(dir: string): Promise<ForceRequest | null> {
  let raw: string;
  try {
    raw = await readFile(join(dir, FORCE_REQUEST_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const v = JSON.parse(raw) as Partial<ForceRequest>;
  if (typeof v.requestId !== 'string' || v.requestId === '')
    throw new ForceNewClusterError(`${join(dir, FORCE_REQUEST_FILE)} holds no request id`);
  return { requestId: v.requestId, requestedAt: typeof v.requestedAt === 'string' ? v.requestedAt : '' };
}

/** Durably (temporary name, fsync, rename, directory fsync), so a crash leaves the old or the new file. */
export async function writeForceRequest(dir: string, requestId: string): Promise<ForceRequest> {
  const req: ForceRequest = { requestId, requestedAt: new Date().toISOString() };
  const tmp = join(dir, `${FORCE_REQUEST_FILE}.${randomBytes(4).toString('hex')}.tmp`);
  const f = await open(tmp, 'w');
  try {
    await f.writeFile(JSON.stringify(req) + '\n');
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, join(dir, FORCE_REQUEST_FILE));
  await syncDir(dir);
  return req;
}

export async function clearForceRequest(dir: string): Promise<void> {
  try {
    await unlink(join(dir, FORCE_REQUEST_FILE));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

// ---- helpers ----------------------------------------------------------------------

function* confEntries(storage: Storage): Generator<Entry> {
  const first = storage.firstIndex();
  const last = storage.lastIndex();
  if (last < first) return;
  for (const e of storage.entries(first, last + 1, Number.MAX_SAFE_INTEGER))
    if (e.type === EntryType.ConfChange) yield e;
}

function forcedRequestOf(cc: LoggedConfChange): string | undefined {
  if (cc.type !== ConfChangeType.RemoveNode || !cc.context) return undefined;
  try {
    const v = JSON.parse(cc.context) as Record<string, unknown>;
    const id = v[FORCED_CONTEXT_KEY];
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

function confAfter(cs: ConfState, cc: LoggedConfChange): ConfState {
  return cc.after ?? confDelta(cs, cc);
}
