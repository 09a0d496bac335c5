// The node's I/O, injected: production passes DiskStorage, PeerTransport and
// the real timers and clock (see KvNode.open); the deterministic simulation
// (sim/) passes a simulated disk, network, scheduler and virtual clock, so
// the Ready loop it checks is the one that ships.
import type { Storage } from '../raft/storage.ts';
import type { ConfState, Message, SnapshotMetadata } from '../raft/types.ts';
import type { PeerView } from '../transport/peer-filter.ts';
import type { PersistRequest } from '../storage/disk-storage.ts';

export type { PersistRequest } from '../storage/disk-storage.ts';

/** What the Ready loop writes through. */
export interface LoopStorage {
  /** Updates memory at once; resolves once the batch has landed (synced unless needsSync says otherwise). */
  persist(p: PersistRequest): Promise<void>;
  /** Whether persist(p) will fsync (a commit index alone is written without). */
  needsSync(p: PersistRequest): boolean;
}

/** Everything the node needs of its storage (DiskStorage implements it). */
export interface NodeStorage extends Storage, LoopStorage {
  readonly meta: { clusterId: string | null; memberId: string };
  /** The last failure of background compaction, if any. */
  readonly compactionError: Error | null;
  /** Set while a batch is held because the disk is full (DiskStorage retries it). */
  readonly diskFull: { since: number; message: string } | null;
  saveSnapshot(
    index: number,
    confState: ConfState,
    data: Uint8Array | Iterable<Uint8Array>,
    keepEntries: number,
  ): Promise<number>;
  readSnapshotData(): Promise<Uint8Array>;
  snapshotDataAt(index: number): Promise<Uint8Array>;
  setClusterId(id: string): Promise<void>;
  markRemoved(): Promise<void>;
  clearRemoved(): Promise<void>;
  /** This member found it is a wiped voter (ADR 0079): later opens of the directory report lost state. */
  markLost(reason: string): Promise<void>;
  close(): Promise<void>;
}

/** What the loop sends through. */
export interface LoopTransport {
  send(msgs: Message[]): void;
}

export interface NodeTransport extends LoopTransport {
  setPeer(id: string, peerUrl: string): void;
  /** The client URL a peer announced on its stream (with a separate -peer-addr, -peers gives only peer addresses). */
  announcedClientUrl?(id: string): string | undefined;
  removePeer(id: string): void;
  /** Whether the outbound stream to `id` is open now (unknown when absent). */
  isConnected?(id: string): boolean;
  close(): Promise<void>;
}

/** What the node tells its transport to call back. */
export interface TransportHooks {
  clusterId(): string;
  /** The current configuration and leader, for the transport's non-member rule (peer-filter.ts). */
  membership(): PeerView;
  /** Checks a received snapshot's data completely before it reaches the core. */
  verifySnapshot(data: Uint8Array, metadata: SnapshotMetadata): Promise<void>;
  onClusterId(id: string): void;
  onMessages(msgs: Message[]): void;
  snapshotData(index: number): Promise<Uint8Array>;
  onSnapshotStatus(peer: string, ok: boolean): void;
  onUnreachable(peer: string): void;
}

export type Cancel = () => void;

/** The timers the node uses: what setImmediate, setInterval and setTimeout do in production. */
export interface Scheduler {
  /** Runs `fn` once everything queued in this event-loop turn has run (setImmediate). */
  soon(fn: () => void): void;
  every(ms: number, fn: () => void): Cancel;
  /** setTimeout; with `background`, the timer does not keep the process alive (unref). */
  after(ms: number, fn: () => void, background?: boolean): Cancel;
}

export interface Clock {
  now(): number;
}

export const realScheduler: Scheduler = {
  soon: (fn) => {
    setImmediate(fn);
  },
  every: (ms, fn) => {
    const t = setInterval(fn, ms);
    return () => clearInterval(t);
  },
  after: (ms, fn, background) => {
    const t = setTimeout(fn, ms);
    if (background === true) t.unref();
    return () => clearTimeout(t);
  },
};

export const realClock: Clock = { now: () => Date.now() };
