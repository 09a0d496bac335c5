// What the HTTP layer needs from the node. The driver (node/src/server/) implements it;
// methods throw KvError (errors.ts) for every failure a client should see.
import type { ArchiverStatus } from '../backup/archiver.ts';
import type { RestoreInfo } from '../backup/restore-info.ts';

export type Consistency = 'linearizable' | 'stale';
export type MemberRole = 'voter' | 'learner';
export type NodeState = 'leader' | 'follower' | 'candidate' | 'learner' | 'removed';

// One definition of a stored key, shared with the state machine.
import type { KeyValue } from '../kv/types.ts';
import type { Caller } from '../kv/commands.ts';
export type { KeyValue };

export interface MemberInfo {
  id: string;
  peerUrl: string;
  clientUrl: string;
  role: MemberRole;
  isLeader: boolean;
  matchIndex?: number;
  healthy?: boolean;
}

export interface NodeStatus {
  id: string;
  clusterId: string;
  state: NodeState;
  leader: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  /** The member's last log entry (index, term): what the election rule compares (docs/adr/0077). */
  lastIndex: number;
  lastLogTerm: number;
  /** Whether the member's data can be trusted; a member that is not "ok" serves nothing else (docs/adr/0077). */
  dataState: DataState;
  dataReason?: string;
  members: MemberInfo[];
  /** Continuous archiving as this member sees it (present when started with -backup-s3-url). */
  backup?: ArchiverStatus;
  /** What the data directory was restored from (kvctl restore wrote it; backup/restore-info.ts). */
  restoredFrom?: RestoreInfo;
}

/** ok: intact; corrupt: records fail their checksums; lost: the directory lost its log or hard state. */
export type DataState = 'ok' | 'corrupt' | 'lost';

export interface ReadyCheck {
  name: string;
  ok: boolean;
  message?: string;
}

export interface GetOptions {
  consistency: Consistency;
}

export interface ListOptions {
  consistency: Consistency;
  limit: number;
  keysOnly: boolean;
  /** With keysOnly: roll keys up to the first separator after the prefix (Consul `?separator`). */
  separator?: string;
}

export interface PutOptions {
  ttlMs?: number;
  ttl?: string;
  /** Expected modifyIndex; 0 = the key must not exist. */
  cas?: number;
  /** Who asks (null: no credentials); the write is authorized again where it applies (kv/commands.ts). */
  caller?: Caller;
}

export interface DeleteOptions {
  cas?: number;
  recurse: boolean;
  /** As PutOptions.caller. */
  caller?: Caller;
}

export interface WatchOptions {
  recurse: boolean;
  /** Return once the key (or prefix) changed after this index. */
  index: number;
  waitMs: number;
}

export interface AddMemberRequest {
  id: string;
  peerUrl: string;
  clientUrl?: string;
  role: MemberRole;
}

export interface KvService {
  get(key: string, o: GetOptions): Promise<{ kv: KeyValue | undefined; index: number }>;
  list(
    prefix: string,
    o: ListOptions,
  ): Promise<{ items: KeyValue[] | string[]; more: boolean; index: number }>;
  put(key: string, value: string, o: PutOptions): Promise<{ kv: KeyValue; index: number }>;
  delete(key: string, o: DeleteOptions): Promise<{ deleted: number; index: number }>;
  /** Resolves with the current index when the key/prefix changed past `o.index`, on timeout, or on abort. */
  watch(key: string, o: WatchOptions, signal: AbortSignal): Promise<number>;
  // status, livez and readyz may answer later: an HTTP worker asks the Raft thread (workers/).
  status(): NodeStatus | Promise<NodeStatus>;
  members(): Promise<{ leader: string | null; members: MemberInfo[] }>;
  addMember(m: AddMemberRequest): Promise<MemberInfo>;
  promoteMember(id: string): Promise<void>;
  /** Voter -> learner (fencing, ADR 0076). */
  demoteMember(id: string): Promise<void>;
  removeMember(id: string): Promise<void>;
  transferLeadership(to?: string): Promise<{ leader: string }>;
  livez(): boolean | Promise<boolean>;
  readyz(): { ready: boolean; checks: ReadyCheck[] } | Promise<{ ready: boolean; checks: ReadyCheck[] }>;
  /**
   * Waits until this member has applied everything committed before the call (a ReadIndex round).
   * A linearizable watch runs it while waiting, so the woken watch answers without a second round.
   */
  barrier?(): Promise<void>;
  /** Applied index right now: every response without one gets it as X-KV-Index. Must be cheap and never throw. */
  appliedIndex(): number;
}
