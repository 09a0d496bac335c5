// The replicated key-value state machine. `apply` is deterministic: it reads no
// clock, so every node that applies the same log holds the same state. Expiry
// is a read-time filter (`get`/`list` hide keys whose expiresAt <= now) plus a
// leader-proposed `expire` command that deletes keys still at the modifyIndex
// the leader saw expire, so a key rewritten in between survives.
import { AuthStore, type AuthChangeResult } from '../auth/auth-store.ts';
import { allows, isAdmin } from '../auth/permissions.ts';
import type { AuthCommand, Command, DeleteCommand, ExpireCommand, PutCommand } from './commands.ts';
import { ExpiryHeap } from './expiry-heap.ts';
import type { ExpiryEntry } from './expiry-heap.ts';
import {
  concatChunks,
  decodeSnapshotSteps,
  encodeSnapshotChunks,
  runAsync,
  runSync,
} from './snapshot-codec.ts';
import type { SnapshotContent, Steps } from './snapshot-codec.ts';
import { SortedKeys, prefixSuccessor } from './sorted-list.ts';
import type { KeyValue, Member, MemberAddress } from './types.ts';
import { WatchHub } from './watch-hub.ts';
import type { WatchHubOptions } from './watch-hub.ts';

export type { KeyValue, Member, MemberAddress } from './types.ts';

export type ApplyResult =
  | {
      ok: true;
      kv?: KeyValue;
      prev?: KeyValue;
      deleted?: number;
      /** index was already applied */ skipped?: true;
      /** Outcome of an auth command (a refused change is applied as a no-op, the same on every member). */
      auth?: AuthChangeResult;
    }
  | { ok: false; code: 'cas-mismatch'; current?: KeyValue }
  /** Auth was on where the command sits in the log and its caller may not do it: nothing changed. */
  | { ok: false; code: 'unauthenticated' | 'permission-denied'; caller: string | null };

export interface ListResult<T> {
  items: T[];
  /** True when more matching keys exist beyond `limit`. */
  more: boolean;
}

/** Rough per-key overhead of the Map entry, the sorted index slot and the object. */
const PER_KEY_OVERHEAD_BYTES = 160;
/** Rebuild the expiry heap when this many of its entries are stale (and they are the majority). */
const STALE_REBUILD_MIN = 1024;

interface RestoredState {
  content: SnapshotContent;
  data: Map<string, KeyValue>;
  expiries: ExpiryEntry[];
  memory: number;
}

/**
 * A snapshot in progress: its key order was copied when it started, and the
 * value of every key changed since is kept here as it was then (undefined: the
 * key did not exist), so the snapshot reads the state of its start.
 */
interface Capture {
  preImages: Map<string, KeyValue | undefined>;
  /** The whole map the snapshot started from, once a restore replaced it. */
  replacedData: Map<string, KeyValue> | null;
}

const EMPTY_AUTH = { enabled: false, tokenKey: null, users: [], roles: [] };

function expired(kv: KeyValue, nowMs: number): boolean {
  return kv.expiresAt !== undefined && kv.expiresAt <= nowMs;
}

export class KvStateMachine {
  private data = new Map<string, KeyValue>();
  /** The keys of `data`, in order. KeyValues are never mutated, only replaced. */
  private sorted = new SortedKeys();
  /** Snapshots being encoded (see Capture). */
  private captures: Capture[] = [];
  private expiry = new ExpiryHeap();
  private staleExpiryEntries = 0;
  private bytes = 0;
  private applied = 0;
  private memberMap = new Map<string, MemberAddress>();
  /** Users, roles and whether auth is on: replicated like the keys, saved in snapshots. */
  readonly auth = new AuthStore();
  private readonly watches: WatchHub;
  private restoring = false;

  constructor(opts: WatchHubOptions = {}) {
    this.watches = new WatchHub(() => this.applied, opts);
  }

  get appliedIndex(): number {
    return this.applied;
  }

  /** Number of stored keys, including expired ones the leader has not deleted yet. */
  count(): number {
    return this.data.size;
  }

  /** Approximate heap bytes held by keys and values. */
  memoryBytes(): number {
    return this.bytes;
  }

  /** Number of pending watches. */
  get watchers(): number {
    return this.watches.waiting;
  }

  /** Advances the applied index for log entries that carry no KV command (conf changes, empty entries). */
  advanceApplied(index: number): void {
    if (index > this.applied) this.applied = index;
  }

  apply(index: number, cmd: Command): ApplyResult {
    if (this.restoring) throw new Error('KvStateMachine: apply during restoreAsync');
    if (index <= this.applied) return { ok: true, skipped: true };
    const changes: { key: string; prefix: boolean }[] = [];
    let result: ApplyResult;
    const refused = cmd.op === 'put' || cmd.op === 'delete' || cmd.op === 'auth' ? this.refusal(cmd) : null;
    if (refused) {
      this.applied = index;
      return refused;
    }
    switch (cmd.op) {
      case 'put':
        result = this.applyPut(index, cmd, changes);
        break;
      case 'delete':
        result = this.applyDelete(cmd, changes);
        break;
      case 'expire':
        result = this.applyExpire(cmd, changes);
        break;
      case 'noop':
        result = { ok: true };
        break;
      case 'auth':
        result = { ok: true, auth: this.auth.apply(cmd.change) };
        break;
    }
    this.applied = index;
    for (const c of changes) this.watches.record(index, c.key, c.prefix);
    return result;
  }

  /**
   * The proposer authorized the command against its own auth state, which may trail the log (a
   * member that had not yet applied an enable, a role change or a user's removal). Checked again
   * here against the state at the command's place in the log, the same on every member.
   */
  private refusal(cmd: PutCommand | DeleteCommand | AuthCommand): ApplyResult | null {
    if (cmd.caller === undefined || !this.auth.enabled) return null;
    const caller = cmd.caller;
    if (caller === null) return { ok: false, code: 'unauthenticated', caller };
    const roles = this.auth.user(caller)?.roles;
    if (roles === undefined) return { ok: false, code: 'permission-denied', caller };
    const allowed =
      cmd.op === 'auth'
        ? isAdmin(roles)
        : allows(
            roles,
            this.auth.roles,
            cmd.op === 'delete' && cmd.recurse === true
              ? { kind: 'write', prefix: cmd.key }
              : { kind: 'write', key: cmd.key },
          );
    return allowed ? null : { ok: false, code: 'permission-denied', caller };
  }

  /** The current value unless absent or expired at `proposedAt` (when the command carries it). */
  private liveAt(key: string, proposedAt: number | undefined): KeyValue | undefined {
    const kv = this.data.get(key);
    if (kv === undefined || (proposedAt !== undefined && expired(kv, proposedAt))) return undefined;
    return kv;
  }

  private applyPut(index: number, cmd: PutCommand, changes: { key: string; prefix: boolean }[]): ApplyResult {
    const stored = this.data.get(cmd.key);
    const live = this.liveAt(cmd.key, cmd.proposedAt);
    if (cmd.cas !== undefined && (cmd.cas === 0 ? live !== undefined : live?.modifyIndex !== cmd.cas)) {
      return live === undefined
        ? { ok: false, code: 'cas-mismatch' }
        : { ok: false, code: 'cas-mismatch', current: live };
    }
    const kv: KeyValue = {
      key: cmd.key,
      value: cmd.value,
      createIndex: live?.createIndex ?? index,
      modifyIndex: index,
      version: (live?.version ?? 0) + 1,
    };
    if (cmd.expiresAt !== undefined) kv.expiresAt = cmd.expiresAt;
    if (cmd.ttl !== undefined) kv.ttl = cmd.ttl;
    this.store(kv, stored);
    changes.push({ key: cmd.key, prefix: false });
    return live === undefined ? { ok: true, kv } : { ok: true, kv, prev: live };
  }

  private applyDelete(cmd: DeleteCommand, changes: { key: string; prefix: boolean }[]): ApplyResult {
    const live = this.liveAt(cmd.key, cmd.proposedAt);
    if (cmd.cas !== undefined && (cmd.cas === 0 ? live !== undefined : live?.modifyIndex !== cmd.cas)) {
      return live === undefined
        ? { ok: false, code: 'cas-mismatch' }
        : { ok: false, code: 'cas-mismatch', current: live };
    }
    if (cmd.recurse === true) {
      const doomed: KeyValue[] = [];
      this.sorted.scan(cmd.key, (key) => key.startsWith(cmd.key) && doomed.push(this.data.get(key)!) > 0);
      let deleted = 0;
      for (const kv of doomed) {
        this.remove(kv);
        if (cmd.proposedAt === undefined || !expired(kv, cmd.proposedAt)) deleted++;
      }
      if (doomed.length > 0) changes.push({ key: cmd.key, prefix: true });
      return { ok: true, deleted };
    }
    const stored = this.data.get(cmd.key);
    if (stored === undefined) return { ok: true, deleted: 0 };
    this.remove(stored);
    changes.push({ key: cmd.key, prefix: false });
    return live === undefined ? { ok: true, deleted: 0 } : { ok: true, deleted: 1, prev: live };
  }

  private applyExpire(cmd: ExpireCommand, changes: { key: string; prefix: boolean }[]): ApplyResult {
    let deleted = 0;
    for (const { key, modifyIndex } of cmd.keys) {
      const kv = this.data.get(key);
      if (kv === undefined || kv.modifyIndex !== modifyIndex) continue; // rewritten or gone meanwhile
      this.remove(kv);
      changes.push({ key, prefix: false });
      deleted++;
    }
    return { ok: true, deleted };
  }

  private store(kv: KeyValue, replaced: KeyValue | undefined): void {
    this.keepPreImage(kv.key, replaced);
    if (replaced === undefined) {
      this.sorted.add(kv.key);
      this.bytes += PER_KEY_OVERHEAD_BYTES + kv.key.length;
    } else {
      this.bytes -= replaced.value.length;
      if (replaced.expiresAt !== undefined) this.staleExpiryEntries++;
    }
    this.bytes += kv.value.length;
    this.data.set(kv.key, kv);
    if (kv.expiresAt !== undefined) {
      this.expiry.push({ expiresAt: kv.expiresAt, key: kv.key, modifyIndex: kv.modifyIndex });
    }
    this.maybeCompactExpiry();
  }

  private remove(kv: KeyValue): void {
    this.keepPreImage(kv.key, kv);
    this.data.delete(kv.key);
    this.sorted.delete(kv.key);
    this.bytes -= PER_KEY_OVERHEAD_BYTES + kv.key.length + kv.value.length;
    if (kv.expiresAt !== undefined) {
      this.staleExpiryEntries++;
      this.maybeCompactExpiry();
    }
  }

  private keepPreImage(key: string, current: KeyValue | undefined): void {
    for (const c of this.captures)
      if (c.replacedData === null && !c.preImages.has(key)) c.preImages.set(key, current);
  }

  private isLiveExpiry(e: ExpiryEntry): boolean {
    return this.data.get(e.key)?.modifyIndex === e.modifyIndex;
  }

  private maybeCompactExpiry(): void {
    if (this.staleExpiryEntries < STALE_REBUILD_MIN || this.staleExpiryEntries * 2 < this.expiry.size) return;
    this.expiry.rebuild(this.expiry.entries().filter((e) => this.isLiveExpiry(e)));
    this.staleExpiryEntries = 0;
  }

  // ---- reads (local; the caller decides whether the read is linearizable) ----

  get(key: string, nowMs: number): KeyValue | undefined {
    const kv = this.data.get(key);
    return kv === undefined || expired(kv, nowMs) ? undefined : kv;
  }

  /** Live keys starting with `prefix`, in key order, at most `limit` (Infinity for all). */
  list(prefix: string, limit: number, nowMs: number): ListResult<KeyValue> {
    const items: KeyValue[] = [];
    let more = false;
    this.sorted.scan(prefix, (key) => {
      if (!key.startsWith(prefix)) return false;
      const kv = this.data.get(key)!;
      if (expired(kv, nowMs)) return true;
      if (items.length >= limit) {
        more = true;
        return false;
      }
      items.push(kv);
      return true;
    });
    return { items, more };
  }

  /**
   * Names of live keys starting with `prefix`. With a separator, names are
   * rolled up like Consul: a key with the separator after the prefix appears
   * once as its prefix up to and including the separator.
   */
  keys(prefix: string, separator: string | undefined, limit: number, nowMs: number): ListResult<string> {
    const sep = separator === '' ? undefined : separator;
    const items: string[] = [];
    let more = false;
    let start: string | undefined = prefix;
    while (start !== undefined) {
      let skipTo: string | undefined;
      this.sorted.scan(start, (k) => {
        if (!k.startsWith(prefix)) return false;
        if (expired(this.data.get(k)!, nowMs)) return true;
        if (items.length >= limit) {
          more = true;
          return false;
        }
        const at = sep === undefined ? -1 : k.indexOf(sep, prefix.length);
        if (at < 0) {
          items.push(k);
          return true;
        }
        const rolled = k.slice(0, at + sep!.length);
        items.push(rolled);
        // Everything else under `rolled` folds into the same name: jump past it.
        skipTo = prefixSuccessor(rolled);
        return false;
      });
      start = skipTo;
    }
    return { items, more };
  }

  /** Up to `max` keys whose TTL elapsed at `nowMs`, with the modifyIndex to put in an `expire` command. */
  expiredKeys(nowMs: number, max: number): { key: string; modifyIndex: number }[] {
    // Drop stale entries from the top so the common "nothing due" case is one comparison.
    for (
      let top = this.expiry.peek();
      top !== undefined && !this.isLiveExpiry(top);
      top = this.expiry.peek()
    ) {
      this.expiry.pop();
      this.staleExpiryEntries--;
    }
    const out: { key: string; modifyIndex: number }[] = [];
    if (max <= 0) return out;
    for (const e of this.expiry.due(nowMs)) {
      if (!this.isLiveExpiry(e)) continue;
      out.push({ key: e.key, modifyIndex: e.modifyIndex });
      if (out.length >= max) break;
    }
    return out;
  }

  // ---- membership addresses (travel with snapshots) ----

  setMember(id: string, address: MemberAddress): void {
    this.memberMap.set(id, { peerUrl: address.peerUrl, clientUrl: address.clientUrl });
  }

  removeMember(id: string): void {
    this.memberMap.delete(id);
  }

  member(id: string): MemberAddress | undefined {
    return this.memberMap.get(id);
  }

  members(): Member[] {
    return [...this.memberMap]
      .map(([id, a]) => ({ id, peerUrl: a.peerUrl, clientUrl: a.clientUrl }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // ---- snapshots ----

  /** Everything (keys, members, applied index) as checksummed bytes. Blocks; see snapshotChunks. */
  snapshot(): Uint8Array {
    const { chunks, release } = this.snapshotChunks();
    try {
      return concatChunks(chunks);
    } finally {
      release();
    }
  }

  /**
   * The snapshot as a lazy stream of chunks, for writing it out without holding
   * it in memory: the state is captured now (the key order is copied, and values
   * changed from here on are remembered as they were), so applies may continue
   * while it is consumed. Each chunk is valid only until the next is requested.
   * Call release() when done with it, consumed or not: until then every change
   * keeps a pre-image.
   */
  snapshotChunks(): {
    appliedIndex: number;
    chunks: Generator<Buffer, void, undefined>;
    release: () => void;
  } {
    const appliedIndex = this.applied;
    const capture: Capture = { preImages: new Map(), replacedData: null };
    this.captures.push(capture);
    const valueOf = (key: string): KeyValue => {
      if (capture.preImages.has(key)) return capture.preImages.get(key)!;
      return (capture.replacedData ?? this.data).get(key)!;
    };
    const release = (): void => {
      this.captures = this.captures.filter((c) => c !== capture);
      capture.preImages.clear();
    };
    return {
      appliedIndex,
      chunks: encodeSnapshotChunks(
        appliedIndex,
        this.members(),
        this.sorted.view(),
        valueOf,
        this.auth.snapshot(),
      ),
      release,
    };
  }

  /** Replaces the whole state; throws CorruptionError (and changes nothing) if the bytes are damaged. */
  restore(bytes: Uint8Array): void {
    this.install(runSync(this.buildFrom(bytes)));
  }

  /** Like restore(), in slices. Applying while it runs is refused (the state is about to be replaced). */
  async restoreAsync(bytes: Uint8Array): Promise<void> {
    this.restoring = true;
    try {
      this.install(await runAsync(this.buildFrom(bytes)));
    } finally {
      this.restoring = false;
    }
  }

  private *buildFrom(bytes: Uint8Array): Steps<RestoredState> {
    const content: SnapshotContent = yield* decodeSnapshotSteps(bytes);
    const data = new Map<string, KeyValue>();
    const expiries: ExpiryEntry[] = [];
    let memory = 0;
    let i = 0;
    for (const kv of content.kvs) {
      data.set(kv.key, kv);
      memory += PER_KEY_OVERHEAD_BYTES + kv.key.length + kv.value.length;
      if (kv.expiresAt !== undefined) {
        expiries.push({ expiresAt: kv.expiresAt, key: kv.key, modifyIndex: kv.modifyIndex });
      }
      if (++i % 50_000 === 0) yield;
    }
    return { content, data, expiries, memory };
  }

  private install({ content, data, expiries, memory }: RestoredState): void {
    // Snapshots in progress keep reading the state they started from.
    for (const c of this.captures) c.replacedData ??= this.data;
    this.data = data;
    this.sorted = SortedKeys.fromSorted(content.kvs.map((kv) => kv.key));
    this.expiry = new ExpiryHeap();
    this.expiry.rebuild(expiries);
    this.staleExpiryEntries = 0;
    this.bytes = memory;
    this.applied = content.appliedIndex;
    this.memberMap = new Map(
      content.members.map((m) => [m.id, { peerUrl: m.peerUrl, clientUrl: m.clientUrl }]),
    );
    this.auth.restore(content.auth ?? EMPTY_AUTH);
    this.watches.reset(this.applied);
  }

  // ---- watches ----

  /**
   * Resolves with the index of the first change (put, delete, expiry) to `key`
   * (or, with `recurse`, any key under it) after `afterIndex`; at once if it
   * already happened or if `afterIndex` is older than the change history (then
   * with the current applied index); with the applied index on timeout.
   * Rejects with the signal's reason on abort, or WatchLimitError when too many wait.
   */
  waitForChange(
    key: string,
    recurse: boolean,
    afterIndex: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<number> {
    return this.watches.wait(key, recurse, afterIndex, timeoutMs, signal);
  }
}
