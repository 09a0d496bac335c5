// A deterministic in-memory cluster for scenario tests and the simulation:
// each node persists to MemoryStorage, applies to a list, and messages travel
// through a queue the test controls (drop, partition, reorder, duplicate).
import { defaultConfig, seededRandom, type RaftConfig } from '../config.ts';
import { RawNode } from '../rawnode.ts';
import { MemoryStorage } from '../storage.ts';
import type { RaftStatus } from '../rawnode.ts';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  StateRole,
  emptyMessage,
  type ConfChange,
  type Entry,
  type Message,
  type NodeId,
  type ReadState,
  type Snapshot,
} from '../types.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function bytes(s: string): Uint8Array {
  return enc.encode(s);
}

export function text(b: Uint8Array): string {
  return dec.decode(b);
}

/** Payload of the entries a scenario pre-loads into a log: unique per (index, term), as Log Matching requires. */
export function entryData(index: number, term: number): string {
  return `i${index}t${term}`;
}

/** A log and hard state to start a node with (for scenarios such as the paper's Figures 7 and 8). */
export interface InitialLog {
  /** Term of each entry, from index 1. */
  terms: number[];
  /** Hard-state term (default: the last entry's term). */
  term?: number;
  vote?: NodeId | null;
  commit?: number;
}

/** A storage holding `log` on top of the bootstrap configuration. */
export function storageWithLog(voters: NodeId[], learners: NodeId[], log: InitialLog): MemoryStorage {
  const s = MemoryStorage.bootstrap(voters, learners);
  s.append(
    log.terms.map((term, i) => ({
      term,
      index: i + 1,
      type: EntryType.Normal,
      data: bytes(entryData(i + 1, term)),
    })),
  );
  s.setHardState({
    term: log.term ?? log.terms[log.terms.length - 1] ?? 0,
    vote: log.vote ?? null,
    commit: log.commit ?? 0,
  });
  return s;
}

export interface LogEntryView {
  index: number;
  term: number;
  data: string;
}

export interface AppliedEntry {
  index: number;
  term: number;
  data: string;
}

export class TestNode {
  readonly id: NodeId;
  storage: MemoryStorage;
  rn: RawNode;
  /** Applied normal entries with data (the state machine). */
  applied: AppliedEntry[] = [];
  appliedIndex = 0;
  readStates: ReadState[] = [];
  /** Applied index at the moment each read state was delivered. */
  readAnswers: { context: string; index: number; appliedAtAnswer: number }[] = [];
  private readonly makeConfig: (storage: MemoryStorage, applied: number) => RaftConfig;

  constructor(
    id: NodeId,
    storage: MemoryStorage,
    makeConfig: (s: MemoryStorage, applied: number) => RaftConfig,
  ) {
    this.id = id;
    this.storage = storage;
    this.makeConfig = makeConfig;
    this.rn = new RawNode(makeConfig(storage, 0));
    this.restoreFromStorageSnapshot();
  }

  private restoreFromStorageSnapshot(): void {
    const snap = this.storage.snapshot();
    this.applied = snap.data.byteLength > 0 ? (JSON.parse(text(snap.data)) as AppliedEntry[]) : [];
    this.appliedIndex = snap.metadata.index;
  }

  /** Crash and restart: only what was persisted in storage survives. */
  restart(): void {
    this.restoreFromStorageSnapshot();
    this.readStates = [];
    this.rn = new RawNode(this.makeConfig(this.storage, this.appliedIndex));
  }

  /** Takes a snapshot at the applied index and compacts the log behind it, keeping `keep` entries. */
  compact(keep = 0): void {
    const idx = this.appliedIndex;
    if (idx <= this.storage.snapshot().metadata.index) return;
    const data = bytes(JSON.stringify(this.applied));
    this.storage.createSnapshot(idx, this.rn.status().confState, data);
    const compactTo = idx - keep;
    if (compactTo > this.storage.firstIndex() - 1) this.storage.compact(compactTo);
  }

  role(): StateRole {
    return this.rn.status().role;
  }

  status(): RaftStatus {
    return this.rn.status();
  }

  /** The persisted log after the snapshot (call after process()/stabilize()). */
  log(): LogEntryView[] {
    const first = this.storage.firstIndex();
    const last = this.storage.lastIndex();
    if (last < first) return [];
    return this.storage
      .entries(first, last + 1, Number.MAX_SAFE_INTEGER)
      .map((e) => ({ index: e.index, term: e.term, data: text(e.data) }));
  }

  /** Terms of the persisted log after the snapshot. */
  logTerms(): number[] {
    return this.log().map((e) => e.term);
  }

  /** Data of the applied normal entries, in order. */
  appliedData(): string[] {
    return this.applied.map((e) => e.data);
  }

  /** Runs Ready cycles until quiescent; returns outgoing messages in send order. */
  process(): Message[] {
    const out: Message[] = [];
    while (this.rn.hasReady()) {
      const rd = this.rn.ready();
      out.push(...rd.messagesBeforePersist);
      if (rd.snapshot) this.applySnapshot(rd.snapshot);
      if (rd.entries.length > 0) this.storage.append(rd.entries);
      if (rd.hardState) this.storage.setHardState(rd.hardState);
      out.push(...rd.messages);
      for (const e of rd.committedEntries) this.applyEntry(e);
      for (const rs of rd.readStates) {
        this.readStates.push(rs);
        this.readAnswers.push({ context: rs.context, index: rs.index, appliedAtAnswer: this.appliedIndex });
      }
      this.rn.advance(rd);
    }
    return out;
  }

  private applySnapshot(s: Snapshot): void {
    this.storage.applySnapshot(s);
    this.applied = s.data.byteLength > 0 ? (JSON.parse(text(s.data)) as AppliedEntry[]) : [];
    this.appliedIndex = s.metadata.index;
  }

  private applyEntry(e: Entry): void {
    if (e.index <= this.appliedIndex) return;
    if (e.type === EntryType.Normal && e.data.byteLength > 0) {
      this.applied.push({ index: e.index, term: e.term, data: text(e.data) });
    }
    this.appliedIndex = e.index;
  }
}

export interface ClusterOptions {
  preVote?: boolean;
  checkQuorum?: boolean;
  electionTick?: number;
  heartbeatTick?: number;
  seed?: number;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  maxUncommittedEntriesSize?: number;
  /** Initial learners (the rest of `ids` are voters). */
  learners?: NodeId[];
  /** Logs and hard states to start nodes with (others start empty). */
  logs?: Record<NodeId, InitialLog>;
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages in flight, delivered in order by deliver(). */
  queue: Message[] = [];
  /** Directed links that drop everything: "a->b". */
  private readonly cut = new Set<string>();
  /** Nodes that are down: they neither send nor receive. */
  readonly down = new Set<NodeId>();
  /** Optional per-message filter; return false to drop. */
  filter: ((m: Message) => boolean) | null = null;
  readonly opts: ClusterOptions;
  private readonly rand: () => number;

  constructor(ids: NodeId[], opts: ClusterOptions = {}) {
    this.opts = opts;
    this.rand = seededRandom(opts.seed ?? 1);
    const learners = opts.learners ?? [];
    const voters = ids.filter((id) => !learners.includes(id));
    for (const id of ids) {
      const log = opts.logs?.[id];
      const storage = log ? storageWithLog(voters, learners, log) : MemoryStorage.bootstrap(voters, learners);
      this.nodes.set(id, this.makeNode(id, storage));
    }
  }

  makeNode(id: NodeId, storage: MemoryStorage): TestNode {
    const seed = Math.floor(this.rand() * 2 ** 31);
    return new TestNode(id, storage, (s, applied) => {
      const c = defaultConfig(id, s, seededRandom(seed));
      c.applied = applied;
      c.preVote = this.opts.preVote ?? false;
      c.checkQuorum = this.opts.checkQuorum ?? false;
      c.electionTick = this.opts.electionTick ?? 10;
      c.heartbeatTick = this.opts.heartbeatTick ?? 1;
      if (this.opts.maxSizePerMsg !== undefined) c.maxSizePerMsg = this.opts.maxSizePerMsg;
      if (this.opts.maxInflightMsgs !== undefined) c.maxInflightMsgs = this.opts.maxInflightMsgs;
      if (this.opts.maxUncommittedEntriesSize !== undefined) {
        c.maxUncommittedEntriesSize = this.opts.maxUncommittedEntriesSize;
      }
      return c;
    });
  }

  /**
   * Adds a brand-new node with an empty log (to be added through a conf change).
   * `bootstrap` gives it the cluster's initial configuration, which lives only
   * in the founders' index-0 snapshot and is never replicated; without it the
   * node knows only the conf changes it finds in the log.
   */
  addEmptyNode(id: NodeId, bootstrap?: { voters: NodeId[]; learners: NodeId[] }): TestNode {
    const storage = bootstrap
      ? MemoryStorage.bootstrap(bootstrap.voters, bootstrap.learners)
      : new MemoryStorage();
    const n = this.makeNode(id, storage);
    this.nodes.set(id, n);
    return n;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Processes every node's Ready and queues what they send. */
  flush(): void {
    for (const n of this.nodes.values()) {
      if (this.down.has(n.id)) continue;
      for (const m of n.process()) this.enqueue(m);
    }
  }

  private enqueue(m: Message): void {
    if (this.down.has(m.from) || this.down.has(m.to)) return;
    if (this.cut.has(`${m.from}->${m.to}`)) return;
    if (this.filter && !this.filter(m)) return;
    this.queue.push(m);
  }

  /** Delivers one queued message (the oldest, or at `i`); returns it, if any. */
  deliverOne(i = 0): Message | undefined {
    const [m] = this.queue.splice(i, 1);
    if (!m) return undefined;
    const target = this.nodes.get(m.to);
    if (!target || this.down.has(m.to) || this.cut.has(`${m.from}->${m.to}`)) return m;
    target.rn.step(m);
    if (m.type === MessageType.Snap) {
      // The transport reports delivery of a snapshot to the sender.
      this.nodes.get(m.from)?.rn.reportSnapshot(m.to, true);
    }
    return m;
  }

  /** Removes and returns the queued messages matching `pred` (to deliver later, reordered, or never). */
  take(pred: (m: Message) => boolean): Message[] {
    const taken = this.queue.filter(pred);
    this.queue = this.queue.filter((m) => !pred(m));
    return taken;
  }

  /** Steps `m` straight into its target (ignoring cuts, not crashes); returns false if the target is down. */
  deliver(m: Message): boolean {
    const target = this.nodes.get(m.to);
    if (!target || this.down.has(m.to)) return false;
    target.rn.step(m);
    if (m.type === MessageType.Snap) this.nodes.get(m.from)?.rn.reportSnapshot(m.to, true);
    return true;
  }

  /**
   * Steps a hand-made message into node `m.to`, processes its Ready and returns
   * what it sends, without queueing any of it: for checking one node's reaction.
   */
  inject(m: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message[] {
    const full: Message = { ...emptyMessage(m.type, m.from, m.to, m.term), ...m };
    const target = this.node(m.to);
    target.rn.step(full);
    return target.process();
  }

  /** Processes and delivers until no message is left (bounded). */
  stabilize(maxSteps = 100_000): void {
    this.flush();
    for (let i = 0; i < maxSteps; i++) {
      if (this.queue.length === 0) {
        this.flush();
        if (this.queue.length === 0) return;
      }
      this.deliverOne();
      if (i % 16 === 0) this.flush();
    }
    throw new Error('cluster did not stabilize');
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.node(id).rn.tick();
  }

  /** Ticks every live node n times, stabilizing after each round. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const node of this.nodes.values()) if (!this.down.has(node.id)) node.rn.tick();
      this.stabilize();
    }
  }

  /**
   * Ticks `ids` (default: every live node) one round at a time, stabilizing
   * after each, until `cond` holds; returns the rounds used, throws if it never does.
   */
  tickUntil(cond: () => boolean, maxRounds = 500, ids?: NodeId[]): number {
    for (let i = 0; i <= maxRounds; i++) {
      if (cond()) return i;
      for (const id of ids ?? [...this.nodes.keys()]) if (!this.down.has(id)) this.node(id).rn.tick();
      this.stabilize();
    }
    throw new Error(`condition not reached within ${maxRounds} rounds`);
  }

  campaign(id: NodeId): void {
    this.node(id).rn.campaign();
    this.stabilize();
  }

  propose(id: NodeId, data: string): ReturnType<RawNode['propose']> {
    const r = this.node(id).rn.propose(bytes(data));
    this.stabilize();
    return r;
  }

  confChange(id: NodeId, type: ConfChange['type'], nodeId: NodeId): ReturnType<RawNode['propose']> {
    const r = this.node(id).rn.proposeConfChange({ type, nodeId });
    this.stabilize();
    return r;
  }

  addLearner(via: NodeId, nodeId: NodeId): ReturnType<RawNode['propose']> {
    return this.confChange(via, ConfChangeType.AddLearner, nodeId);
  }

  readIndex(id: NodeId, context: string): void {
    this.node(id).rn.readIndex(context);
    this.stabilize();
  }

  transferLeadership(via: NodeId, to: NodeId): void {
    this.node(via).rn.transferLeadership(to);
    this.stabilize();
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  partition(...groups: NodeId[][]): void {
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cut.add(`${x}->${y}`);
      }
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cut.add(`${from}->${to}`);
  }

  heal(): void {
    this.cut.clear();
    this.filter = null;
  }

  crash(id: NodeId): void {
    this.down.add(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  restart(id: NodeId): void {
    this.down.delete(id);
    this.node(id).restart();
  }

  leaders(): TestNode[] {
    return [...this.nodes.values()].filter((n) => !this.down.has(n.id) && n.role() === StateRole.Leader);
  }

  leader(): TestNode | undefined {
    let best: TestNode | undefined;
    for (const n of this.leaders()) if (!best || n.rn.status().term > best.rn.status().term) best = n;
    return best;
  }

  /** Ticks until some node leads (bounded); returns it. */
  electLeader(maxRounds = 200): TestNode {
    for (let i = 0; i < maxRounds; i++) {
      const l = this.leader();
      if (l && this.nodes.size > 0) return l;
      this.tickAll(1);
    }
    throw new Error('no leader elected');
  }

  randomFloat(): number {
    return this.rand();
  }
}
