// One simulated node: durable MemoryStorage (survives crashes), a volatile
// RawNode and state machine (rebuilt from storage on restart).
import type { RaftConfig } from '../config.ts';
import { RawNode } from '../rawnode.ts';
import { MemoryStorage } from '../storage.ts';
import { StateRole, type Entry, type NodeId } from '../types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** MemoryStorage that tells the simulation about every entry it persists (Log Matching check). */
export class SimStorage extends MemoryStorage {
  onAppend: ((e: Entry, prevTerm: number) => void) | null = null;

  static bootstrapSim(voters: NodeId[]): SimStorage {
    const s = new SimStorage();
    s.snap = { metadata: { index: 0, term: 0, confState: { voters, learners: [] } }, data: new Uint8Array() };
    return s;
  }

  /** What a member started with -join on an empty data directory holds (DiskStorage `joining`). */
  static freshJoiner(): SimStorage {
    const s = new SimStorage();
    s.hardState = { term: 0, vote: null, commit: 0, joining: true };
    return s;
  }

  /** The persisted entry at `i`, or undefined if compacted or beyond the log. */
  entryAt(i: number): Entry | undefined {
    const offset = this.ents[0]!.index;
    if (i <= offset) return undefined;
    return this.ents[i - offset];
  }

  persistedCommit(): number {
    return this.hardState.commit;
  }

  persistedTerm(): number {
    return this.hardState.term;
  }

  override append(entries: Entry[]): void {
    if (this.onAppend && entries.length > 0) {
      let prevTerm: number;
      try {
        prevTerm = this.term(entries[0]!.index - 1);
      } catch {
        prevTerm = -1;
      }
      for (const e of entries) {
        this.onAppend(e, prevTerm);
        prevTerm = e.term;
      }
    }
    super.append(entries);
  }
}

/** The application state a snapshot carries: the fingerprint of everything applied up to its index. */
export function encodeSnapshotData(hash: number): Uint8Array {
  return encoder.encode(JSON.stringify({ hash }));
}

export function decodeSnapshotData(data: Uint8Array): number {
  if (data.byteLength === 0) return 0;
  return (JSON.parse(decoder.decode(data)) as { hash: number }).hash;
}

/** Where an armed crash strikes inside the node's next Ready. */
export type CrashPoint = 'before-persist' | 'after-persist' | 'before-advance';

export class SimNode {
  readonly id: NodeId;
  /** Replaced only by wipe(): the data directory deleted, the member restarted as a joiner. */
  storage: SimStorage;
  rn: RawNode;
  up = true;
  /** Removed from the cluster and shut down for good. */
  decommissioned = false;
  /** Bumped on every restart, so stale snapshot reports from a previous life are ignored. */
  incarnation = 0;
  role: StateRole = StateRole.Follower;
  term: number;
  /** Term in which this node currently leads, 0 if it does not. */
  leaderTerm = 0;
  /** Highest commit index this incarnation has reported (must never go down). */
  knownCommit: number;
  appliedIndex: number;
  stateHash: number;
  armedCrash: CrashPoint | null = null;
  private readonly makeConfig: (storage: SimStorage, applied: number) => RaftConfig;

  constructor(id: NodeId, storage: SimStorage, makeConfig: (s: SimStorage, applied: number) => RaftConfig) {
    this.id = id;
    this.storage = storage;
    this.makeConfig = makeConfig;
    const snap = storage.snapshot();
    this.appliedIndex = snap.metadata.index;
    this.stateHash = decodeSnapshotData(snap.data);
    this.term = storage.persistedTerm();
    this.knownCommit = storage.persistedCommit();
    this.rn = new RawNode(makeConfig(storage, this.appliedIndex));
  }

  crash(): void {
    this.up = false;
    this.armedCrash = null;
    this.role = StateRole.Follower;
    this.leaderTerm = 0;
  }

  /** Comes back with only what storage holds; the state machine restarts from the snapshot. */
  restart(): void {
    const snap = this.storage.snapshot();
    this.appliedIndex = snap.metadata.index;
    this.stateHash = decodeSnapshotData(snap.data);
    this.term = this.storage.persistedTerm();
    this.knownCommit = this.storage.persistedCommit();
    this.role = StateRole.Follower;
    this.leaderTerm = 0;
    this.incarnation++;
    this.rn = new RawNode(this.makeConfig(this.storage, this.appliedIndex));
    this.up = true;
  }

  /** Loses its whole data directory (identity too) and restarts empty with -join (ADR 0079). */
  wipe(fresh: SimStorage): void {
    this.crash();
    this.storage = fresh;
    this.restart();
  }

  /** Snapshot at the applied index, keeping `keep` entries behind it for slightly lagging followers. */
  compact(keep: number): boolean {
    const idx = this.appliedIndex;
    if (idx <= this.storage.snapshot().metadata.index) return false;
    this.storage.createSnapshot(idx, this.rn.status().confState, encodeSnapshotData(this.stateHash));
    const to = idx - keep;
    if (to >= this.storage.firstIndex()) this.storage.compact(to);
    return true;
  }
}
