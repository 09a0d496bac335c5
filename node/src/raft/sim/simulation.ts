// Randomized, seeded simulation of a Raft cluster (issue 2). One seed decides
// everything: cluster size, configuration, network faults, crashes, membership
// changes, client traffic. Time is ticks; messages are delivered with random
// delays (so they reorder), dropped, duplicated, or cut by partitions. Safety
// is checked on every Ready of every node (see checker.ts); after the chaos
// phase the network heals and the cluster must make progress (liveness).
import { defaultConfig, seededRandom } from '../config.ts';
import { decodeConfChange } from '../conf-change.ts';
import { caughtUp } from '../membership.ts';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  StateRole,
  type Entry,
  type Message,
  type NodeId,
  type Ready,
} from '../types.ts';
import { SafetyChecker, type Violation } from './checker.ts';
import { decodeSnapshotData, SimNode, SimStorage, type CrashPoint } from './sim-node.ts';

export interface SimOptions {
  seed: number;
  /** Ticks of chaos before the heal-and-progress phase. */
  steps?: number;
  /** Ticks allowed after healing for a leader to commit and apply a fresh entry everywhere. */
  livenessTicks?: number;
  /** How many recent events a failure report shows. */
  traceSize?: number;
  /** Called with every event as it happens (the CLI's --verbose). */
  onEvent?: (line: string) => void;
  /**
   * Fault injection for mutation tests: rewrites (or drops, by returning null)
   * every message as it is sent. Lets a test break a Raft rule from outside the core.
   */
  mutateMessage?: (m: Message) => Message | null;
  /** Record every delivery in the trace too (slower; used to replay a failing seed). */
  fullTrace?: boolean;
}

export interface SimResult {
  seed: number;
  violations: Violation[];
  /** Recent events, oldest first (only filled when there is a violation). */
  trace: string[];
  stats: { nodes: number; ticks: number; delivered: number; committed: number; leaders: number };
}

interface InFlight {
  m: Message;
  at: number;
}

interface PendingRead {
  minIndex: number;
}

const encoder = new TextEncoder();

export class Simulation {
  readonly seed: number;
  private readonly rand: () => number;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly checker = new SafetyChecker();
  private readonly opts: SimOptions;

  private now = 0;
  private net: InFlight[] = [];
  /** Directed links that lose everything: "a->b". */
  private readonly cut = new Set<string>();
  private dropRate: number;
  private dupRate: number;
  private maxDelay: number;
  private readonly crashRate: number;
  /** Rate at which a nemesis crashes or isolates the current leader (election churn, Figure 8 histories). */
  private readonly leaderFaultRate: number;
  private readonly churn: boolean;
  private readonly wipeRate: number;

  private nextNodeNum: number;
  private valueSeq = 0;
  private readSeq = 0;
  private readonly reads = new Map<string, PendingRead>();
  private readonly removals = new Map<NodeId, number>();
  /** The member last wiped, until it is admitted again or removed. */
  private wiped: NodeId | null = null;
  private delivered = 0;
  private leadersSeen = 0;

  private readonly trace: string[] = [];
  private traceHead = 0;
  private readonly traceSize: number;

  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxSizePerMsg: number;
  private readonly maxInflight: number;
  private readonly maxUncommitted: number;

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.seed = opts.seed;
    this.rand = seededRandom(opts.seed * 2654435761);
    this.traceSize = opts.traceSize ?? 60;
    this.checker.onViolation = (v) => this.event(`VIOLATION ${v.property}: ${v.detail}`);
    // A quarter of the seeds are 'churn' runs: three nodes, one entry per append, lossy links and a
    // nemesis on leaders; this makes the partially replicated histories of the paper's Figure 8 likely.
    this.churn = this.chance(0.25);
    const n = this.churn ? 3 : 3 + this.int(5);
    this.preVote = this.chance(this.churn ? 0.3 : 0.8);
    this.checkQuorum = this.chance(this.churn ? 0.3 : 0.8);
    this.maxSizePerMsg = this.churn ? 1 : this.pick([64, 512, 1024 * 1024]);
    this.maxInflight = this.churn ? this.pick([1, 2]) : this.pick([1, 4, 256]);
    this.maxUncommitted = this.pick([64, 4096, 64 * 1024 * 1024]);
    this.dropRate = this.churn ? this.pick([0.1, 0.2, 0.3]) : this.pick([0, 0.02, 0.1, 0.2]);
    this.dupRate = this.pick([0, 0.02, 0.1]);
    this.maxDelay = this.pick([0, 2, 5]);
    this.crashRate = this.pick([0.002, 0.01, 0.03]);
    this.wipeRate = this.pick([0, 0.0005, 0.002]);
    this.leaderFaultRate = this.churn ? this.pick([0.05, 0.1]) : this.pick([0, 0, 0.02, 0.05]);
    const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    this.nextNodeNum = n + 1;
    for (const id of ids) this.addNode(id, SimStorage.bootstrapSim(ids));
    this.event(
      `seed ${this.seed}: ${n} nodes${this.churn ? ' (churn)' : ''}, preVote=${this.preVote} checkQuorum=${this.checkQuorum} ` +
        `maxSizePerMsg=${this.maxSizePerMsg} maxInflight=${this.maxInflight} maxUncommitted=${this.maxUncommitted} ` +
        `drop=${this.dropRate} dup=${this.dupRate} maxDelay=${this.maxDelay} crashRate=${this.crashRate} wipeRate=${this.wipeRate} leaderFaultRate=${this.leaderFaultRate}`,
    );
  }

  // ---- randomness -----------------------------------------------------------------

  private int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  private chance(p: number): boolean {
    return this.rand() < p;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  // ---- trace ----------------------------------------------------------------------

  private event(line: string): void {
    const s = `[t${this.now}] ${line}`;
    this.opts.onEvent?.(s);
    if (this.trace.length < this.traceSize) this.trace.push(s);
    else {
      this.trace[this.traceHead] = s;
      this.traceHead = (this.traceHead + 1) % this.traceSize;
    }
  }

  private recentEvents(): string[] {
    return [...this.trace.slice(this.traceHead), ...this.trace.slice(0, this.traceHead)];
  }

  private fail(property: string, detail: string): void {
    this.checker.fail(property, detail);
  }

  // ---- nodes ------------------------------------------------------------------------

  private addNode(id: NodeId, storage: SimStorage): SimNode {
    const nodeSeed = Math.floor(this.rand() * 2 ** 31);
    const node = new SimNode(id, storage, (s, applied) => {
      const c = defaultConfig(id, s, seededRandom(nodeSeed + applied));
      c.applied = applied;
      c.preVote = this.preVote;
      c.checkQuorum = this.checkQuorum;
      c.electionTick = 10;
      c.heartbeatTick = 2;
      c.maxSizePerMsg = this.maxSizePerMsg;
      c.maxInflightMsgs = this.maxInflight;
      c.maxUncommittedEntriesSize = this.maxUncommitted;
      return c;
    });
    storage.onAppend = (e, prevTerm) => this.checker.logEntry(id, e, prevTerm);
    this.nodes.set(id, node);
    return node;
  }

  private liveNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.up) out.push(n);
    return out;
  }

  /** The live leader with the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.up && n.role === StateRole.Leader && (!best || n.leaderTerm > best.leaderTerm)) best = n;
    }
    return best;
  }

  /** Runs a core call, turning an exception (a failed internal assertion) into a violation. */
  private guard(node: SimNode, what: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.fail(
        'Core invariant',
        `${node.id} threw during ${what}: ${e instanceof Error ? e.message : String(e)}`,
      );
      node.crash();
    }
  }

  // ---- Ready processing ----------------------------------------------------------------

  /** Carries out every Ready of `node`: send, persist, send, apply, advance — or crash midway if armed. */
  private drain(node: SimNode): void {
    for (let guard = 0; node.up && guard < 10_000; guard++) {
      let more = false;
      this.guard(node, 'ready', () => {
        more = node.rn.hasReady();
        if (more) this.handleReady(node, node.rn.ready());
      });
      if (!more) return;
    }
  }

  private handleReady(node: SimNode, rd: Ready): void {
    const c = this.checker;
    if (rd.hardState) {
      const hs = rd.hardState;
      if (hs.term < node.term)
        this.fail('Term monotonic', `${node.id}: term went from ${node.term} to ${hs.term}`);
      node.term = hs.term;
      if (hs.commit < node.knownCommit) {
        this.fail('Commit monotonic', `${node.id}: commit went from ${node.knownCommit} to ${hs.commit}`);
      }
      this.recordCommits(node, rd, hs.commit);
    }
    if (rd.softState) {
      node.role = rd.softState.role;
      if (node.role === StateRole.Leader) {
        node.leaderTerm = node.term;
        c.leaderSeen(node.id, node.term);
        this.leadersSeen++;
        this.event(`${node.id} became leader of term ${node.term}`);
      } else {
        node.leaderTerm = 0;
      }
    }
    const crashAt = this.takeArmedCrash(node, rd);
    for (const m of rd.messagesBeforePersist) this.send(m);
    if (crashAt === 'before-persist') return this.crashNow(node, 'before persisting its Ready');

    if (rd.snapshot) {
      const s = rd.snapshot;
      node.storage.applySnapshot(s);
      node.appliedIndex = s.metadata.index;
      node.stateHash = decodeSnapshotData(s.data);
      c.snapshotInstalled(node.id, s.metadata.index, node.stateHash);
      this.event(`${node.id} installed snapshot at ${s.metadata.index} (term ${s.metadata.term})`);
    }
    if (rd.entries.length > 0) node.storage.append(rd.entries);
    if (rd.hardState) node.storage.setHardState(rd.hardState);
    if (crashAt === 'after-persist') return this.crashNow(node, 'after persisting, before sending');

    for (const m of rd.messages) this.send(m);
    for (const e of rd.committedEntries) this.apply(node, e);
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.context);
      if (r) c.readAnswered(node.id, rs.context, rs.index, r.minIndex);
    }
    if (crashAt === 'before-advance') return this.crashNow(node, 'after applying, before advance');
    node.rn.advance(rd);
    if (rd.softState?.role === StateRole.Leader) {
      c.checkLeaderHas(node.id, node.leaderTerm, node.storage.firstIndex(), c.maxCommitted, (i) =>
        node.storage.entryAt(i),
      );
    }
  }

  private takeArmedCrash(node: SimNode, rd: Ready): CrashPoint | null {
    const a = node.armedCrash;
    // Strike only where it matters: a Ready that has something to persist or apply.
    if (!a || (rd.entries.length === 0 && !rd.hardState && rd.committedEntries.length === 0)) return null;
    node.armedCrash = null;
    return a;
  }

  private crashNow(node: SimNode, when: string): void {
    node.crash();
    this.event(`${node.id} CRASHED ${when}`);
  }

  /** Registers the newly committed entries `node` reports, and checks current leaders hold them. */
  private recordCommits(node: SimNode, rd: Ready, commit: number): void {
    const c = this.checker;
    const from = node.knownCommit + 1;
    node.knownCommit = Math.max(node.knownCommit, commit);
    c.noteCommitIndex(commit);
    if (commit < from) return;
    const firstNew = rd.entries[0]?.index ?? Number.MAX_SAFE_INTEGER;
    let added = false;
    // Entries covered by a snapshot in this Ready are not in the log (what storage holds there is stale).
    const snapIndex = rd.snapshot?.metadata.index ?? 0;
    for (let i = Math.max(from, snapIndex + 1); i <= commit; i++) {
      const e = i >= firstNew ? rd.entries[i - firstNew] : node.storage.entryAt(i);
      if (!e) continue; // covered by a snapshot
      const fresh = c.committedKey[i] === undefined;
      c.committed(node.id, e, node.term);
      added ||= fresh;
    }
    if (!added) return;
    for (const l of this.nodes.values()) {
      if (!l.up || l.leaderTerm === 0 || l === node) continue;
      c.checkLeaderHas(l.id, l.leaderTerm, Math.max(from, l.storage.firstIndex()), commit, (i) =>
        l.storage.entryAt(i),
      );
    }
  }

  private apply(node: SimNode, e: Entry): void {
    if (e.index !== node.appliedIndex + 1) {
      this.fail(
        'Apply order',
        `${node.id} was handed entry ${e.index} to apply after applying ${node.appliedIndex}`,
      );
      return;
    }
    node.stateHash = this.checker.applied(node.id, e, node.stateHash);
    node.appliedIndex = e.index;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      if (cc.type === ConfChangeType.RemoveNode && !this.removals.has(cc.nodeId)) {
        // The operator shuts a removed member down a little later.
        this.removals.set(cc.nodeId, this.now + this.int(20));
      }
    }
  }

  // ---- network -----------------------------------------------------------------------

  private send(orig: Message): void {
    const m = this.opts.mutateMessage ? this.opts.mutateMessage(orig) : orig;
    if (!m) return;
    if (this.chance(this.dropRate)) {
      this.lost(m, 'dropped');
      return;
    }
    this.net.push({ m, at: this.now + this.delay() });
    if (this.chance(this.dupRate)) this.net.push({ m: { ...m }, at: this.now + this.delay() });
  }

  private delay(): number {
    if (this.chance(0.01)) return this.int(30);
    return this.int(this.maxDelay + 1);
  }

  /** A message that never arrives: the transport reports failed snapshots (and sometimes unreachability). */
  private lost(m: Message, why: string): void {
    this.event(`${why} ${fmt(m)}`);
    const sender = this.nodes.get(m.from);
    if (!sender?.up) return;
    if (m.type === MessageType.Snap) {
      this.guard(sender, 'reportSnapshot', () => sender.rn.reportSnapshot(m.to, false));
      this.drain(sender);
    } else if (m.type === MessageType.App && this.chance(0.3)) {
      this.guard(sender, 'reportUnreachable', () => sender.rn.reportUnreachable(m.to));
      this.drain(sender);
    }
  }

  /** Delivers every message due now, in random order, including those sent meanwhile with no delay. */
  private deliverDue(): void {
    for (let round = 0; round < 10_000; round++) {
      const due: InFlight[] = [];
      const later: InFlight[] = [];
      for (const f of this.net) (f.at <= this.now ? due : later).push(f);
      if (due.length === 0) return;
      this.net = later;
      for (let i = due.length - 1; i > 0; i--) {
        const j = this.int(i + 1);
        [due[i], due[j]] = [due[j]!, due[i]!];
      }
      for (const f of due) this.deliver(f.m);
    }
  }

  private deliver(m: Message): void {
    const to = this.nodes.get(m.to);
    if (!to?.up) return this.lost(m, 'undeliverable (down)');
    if (this.cut.has(`${m.from}->${m.to}`)) return this.lost(m, 'cut');
    this.delivered++;
    if (this.opts.onEvent || this.opts.fullTrace) this.event(`deliver ${fmt(m)}`);
    this.guard(to, `step ${m.type}`, () => to.rn.step(m));
    this.drain(to);
    if (m.type === MessageType.Snap) {
      const from = this.nodes.get(m.from);
      if (from?.up) {
        this.guard(from, 'reportSnapshot', () => from.rn.reportSnapshot(m.to, true));
        this.drain(from);
      }
    }
  }

  // ---- chaos actions ----------------------------------------------------------------------

  private tickAll(): void {
    for (const n of this.liveNodes()) {
      this.guard(n, 'tick', () => n.rn.tick());
      this.drain(n);
    }
  }

  private propose(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    // Clients mostly talk to the leader, sometimes to a follower (forwarded).
    const l = this.leader();
    const n = l && this.chance(0.7) ? l : this.pick(live);
    // Some clients batch (group commit), the rest propose one value at a time.
    const vs = Array.from({ length: this.chance(0.2) ? 2 + this.int(3) : 1 }, () => `v${this.valueSeq++}`);
    this.guard(n, 'propose', () => {
      const data = vs.map((v) => encoder.encode(v));
      const r = data.length === 1 ? n.rn.propose(data[0]!) : n.rn.proposeBatch(data);
      this.event(
        `propose ${vs.join(',')} at ${n.id}: ${r.ok ? ('index' in r ? `index ${r.index}` : 'forwarded') : r.error}`,
      );
    });
    this.drain(n);
  }

  private read(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const n = this.pick(live);
    const ctx = `r${this.readSeq++}`;
    this.reads.set(ctx, { minIndex: this.checker.maxCommitted });
    this.event(`read ${ctx} at ${n.id} (committed so far: ${this.checker.maxCommitted})`);
    this.guard(n, 'readIndex', () => n.rn.readIndex(ctx));
    this.drain(n);
  }

  private partition(): void {
    const ids = [...this.nodes.keys()];
    const kind = this.int(3);
    if (kind === 0) {
      const x = this.pick(ids);
      for (const y of ids) if (y !== x) this.cut.add(`${x}->${y}`).add(`${y}->${x}`);
      this.event(`partition: isolate ${x}`);
    } else if (kind === 1) {
      const side = new Set(ids.filter(() => this.chance(0.5)));
      for (const x of ids) for (const y of ids) if (side.has(x) !== side.has(y)) this.cut.add(`${x}->${y}`);
      this.event(`partition: {${[...side].join(',')}} | rest`);
    } else {
      const x = this.pick(ids);
      const y = this.pick(ids);
      if (x === y) return;
      this.cut.add(`${x}->${y}`);
      this.event(`partition: cut link ${x}->${y} (asymmetric)`);
    }
  }

  private heal(): void {
    this.cut.clear();
    this.event('heal all links');
  }

  private crash(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const n = this.pick(live);
    const mode = this.int(4);
    if (mode === 0) {
      this.crashNow(n, 'between Readies');
    } else {
      n.armedCrash = (['before-persist', 'after-persist', 'before-advance'] as const)[mode - 1]!;
      this.event(`${n.id} will crash ${n.armedCrash} in its next Ready`);
    }
  }

  /** Strikes the leader: crash it now or mid-Ready, or cut it off from everyone. */
  private leaderFault(): void {
    const l = this.leader();
    if (!l) return;
    const mode = this.int(3);
    if (mode === 0) this.crashNow(l, 'between Readies (leader nemesis)');
    else if (mode === 1) {
      l.armedCrash = this.pick(['before-persist', 'after-persist', 'before-advance'] as const);
      this.event(`${l.id} (leader) will crash ${l.armedCrash} in its next Ready`);
    } else {
      for (const y of this.nodes.keys()) if (y !== l.id) this.cut.add(`${l.id}->${y}`).add(`${y}->${l.id}`);
      this.event(`partition: isolate leader ${l.id}`);
    }
  }

  private restart(): void {
    const down = [...this.nodes.values()].filter((n) => !n.up && !n.decommissioned);
    if (down.length === 0) return;
    const n = this.pick(down);
    this.guard(n, 'restart', () => n.restart());
    this.event(`${n.id} restarted (term ${n.term}, commit ${n.knownCommit}, applied ${n.appliedIndex})`);
    this.drain(n);
  }

  private compact(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const n = this.pick(live);
    const keep = this.pick([0, 0, 2, 10]);
    this.guard(n, 'compact', () => {
      if (n.compact(keep)) this.event(`${n.id} snapshot at ${n.appliedIndex}, kept ${keep} entries`);
    });
  }

  private changeMembership(): void {
    const l = this.leader();
    if (!l) return;
    // As the operator: a wiped member is replaced before any other change (replaceWiped).
    if (
      this.wiped !== null ||
      [...this.nodes.values()].some((n) => n.up && n.rn.status().wipedVoter !== null)
    )
      return;
    const { voters, learners } = l.rn.status().confState;
    const options: (() => void)[] = [];
    const members = voters.length + learners.length;
    if (members < 7) {
      options.push(() => {
        const id = `n${this.nextNodeNum++}`;
        this.addNode(id, SimStorage.freshJoiner());
        this.confChange(l, ConfChangeType.AddLearner, id);
      });
    }
    // Promotion as the admin API allows it (membership.ts caughtUp): a learner acknowledging appends
    // and close to the commit index. A learner that joined empty is admitted by then (ADR 0079).
    const st = l.rn.status();
    const promotable = learners.filter((id) => caughtUp(st.progress.get(id), st.commit));
    if (promotable.length > 0)
      options.push(() => this.confChange(l, ConfChangeType.AddVoter, this.pick(promotable)));
    if (voters.length > 3)
      options.push(() => this.confChange(l, ConfChangeType.RemoveNode, this.pick(voters)));
    // Demotion (fencing, ADR 0076): AddLearner on a voter.
    if (voters.length > 3)
      options.push(() => this.confChange(l, ConfChangeType.AddLearner, this.pick(voters)));
    if (learners.length > 0)
      options.push(() => this.confChange(l, ConfChangeType.RemoveNode, this.pick(learners)));
    if (options.length > 0) this.pick(options)();
  }

  private confChange(l: SimNode, type: ConfChangeType, id: NodeId): void {
    const name = ['add-learner', 'add-voter', 'remove'][type]!;
    this.guard(l, 'proposeConfChange', () => {
      const r = l.rn.proposeConfChange({ type, nodeId: id });
      this.event(`conf change ${name} ${id} at ${l.id}: ${r.ok ? 'proposed' : r.error}`);
    });
    this.drain(l);
  }

  /**
   * Deletes a member's whole data directory and restarts it with -join, as a kept volume whose files
   * were removed: a voter must find out and do nothing more (the operator then replaces it), a
   * learner may simply catch up again. One at a time, as the operator replaces members.
   */
  private wipe(): void {
    if (this.wiped !== null) return;
    const l = this.leader();
    if (!l) return;
    const { voters, learners } = l.rn.status().confState;
    const members = [...voters, ...learners]
      .map((id) => this.nodes.get(id))
      .filter((n): n is SimNode => n !== undefined && !n.decommissioned && !this.removals.has(n.id));
    if (members.length === 0) return;
    const n = this.pick(members);
    if (voters.includes(n.id)) {
      // Only while the other voters that can vote (not themselves joining) keep a majority:
      // losing more is quorum loss, which takes a human (ADR 0077), not this fault.
      const able = voters.filter((id) => id !== n.id && this.nodes.get(id)?.rn.status().joining === false);
      if (able.length < Math.floor(voters.length / 2) + 1) return;
    }
    const fresh = SimStorage.freshJoiner();
    fresh.onAppend = (e, prevTerm) => this.checker.logEntry(n.id, e, prevTerm);
    this.guard(n, 'wipe', () => n.wipe(fresh));
    this.wiped = n.id;
    this.event(`${n.id} WIPED: its data directory is gone; restarted empty with -join (term ${n.term})`);
    this.drain(n);
  }

  /** The operator's part: a member that reports itself a wiped voter is removed from the cluster. */
  private replaceWiped(): void {
    // A member can also suspect itself without a wipe (restarted before it was admitted, then
    // caught up by a snapshot that lists it as a voter): conservative, and replaced the same way.
    for (const n of this.nodes.values()) {
      if (n.id === this.wiped || !n.up || n.decommissioned || this.removals.has(n.id)) continue;
      if (n.rn.status().wipedVoter === null) continue;
      const l = this.leader();
      if (l && l !== n) this.confChange(l, ConfChangeType.RemoveNode, n.id);
    }
    if (this.wiped === null) return;
    const n = this.nodes.get(this.wiped);
    if (!n || n.decommissioned || this.removals.has(n.id)) {
      this.wiped = null;
      return;
    }
    if (!n.up) return;
    const st = n.rn.status();
    if (st.wipedVoter === null) {
      // Admitted (it was a learner, or no member at all): it simply catches up again.
      if (!st.joining) this.wiped = null;
      return;
    }
    const l = this.leader();
    if (!l || l === n) return;
    this.confChange(l, ConfChangeType.RemoveNode, n.id);
  }

  private transfer(): void {
    const l = this.leader();
    if (!l) return;
    const voters = l.rn.status().confState.voters.filter((v) => v !== l.id);
    if (voters.length === 0) return;
    const to = this.pick(voters);
    this.event(`transfer leadership ${l.id} -> ${to}`);
    this.guard(l, 'transferLeadership', () => l.rn.transferLeadership(to));
    this.drain(l);
  }

  private shutDownRemoved(): void {
    for (const [id, at] of this.removals) {
      const n = this.nodes.get(id);
      if (!n || n.decommissioned || at > this.now) continue;
      n.crash();
      n.decommissioned = true;
      this.event(`${id} shut down (removed from the cluster)`);
    }
  }

  private chaosStep(): void {
    if (this.chance(0.5)) this.propose();
    if (this.chance(0.2)) this.propose();
    if (this.chance(0.15)) this.read();
    if (this.chance(0.012)) this.partition();
    if (this.chance(0.02)) this.heal();
    if (this.chance(this.crashRate)) this.crash();
    if (this.chance(this.leaderFaultRate)) this.leaderFault();
    if (this.chance(0.03 + this.leaderFaultRate)) this.restart();
    if (this.chance(0.02)) this.compact();
    if (this.chance(0.015)) this.changeMembership();
    if (this.chance(0.006)) this.transfer();
    if (this.chance(this.wipeRate)) this.wipe();
    if (this.chance(0.05)) this.replaceWiped();
  }

  private tick(): void {
    this.now++;
    this.shutDownRemoved();
    this.tickAll();
    this.deliverDue();
  }

  // ---- run ----------------------------------------------------------------------------------

  run(): SimResult {
    const steps = this.opts.steps ?? 2000;
    for (let i = 0; i < steps && this.checker.violations.length === 0; i++) {
      this.chaosStep();
      this.tick();
    }
    if (this.checker.violations.length === 0) this.checkLiveness();
    const v = this.checker.violations;
    return {
      seed: this.seed,
      violations: v,
      trace: v.length > 0 ? this.recentEvents() : [],
      stats: {
        nodes: this.nodes.size,
        ticks: this.now,
        delivered: this.delivered,
        committed: this.checker.maxCommitted,
        leaders: this.leadersSeen,
      },
    };
  }

  /** Heal everything, restart every member, and require a fresh entry applied on all live members. */
  private checkLiveness(): void {
    this.cut.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    this.maxDelay = Math.min(this.maxDelay, 1);
    this.event('LIVENESS PHASE: heal, restart everyone, no more faults');
    for (const n of this.nodes.values()) {
      n.armedCrash = null;
      if (!n.up && !n.decommissioned) {
        this.guard(n, 'restart', () => n.restart());
        this.drain(n);
      }
    }
    // Replacing a wiped member first (remove it, then commit the probe without it) takes longer.
    const wipedLeft = [...this.nodes.values()].some(
      (n) => !n.decommissioned && n.up && n.rn.status().wipedVoter !== null,
    );
    const budget = (this.opts.livenessTicks ?? 400) * (wipedLeft ? 2 : 1);
    const start = this.now;
    let probe: string | null = null;
    let probeAt = 0;
    while (this.now - start < budget && this.checker.violations.length === 0) {
      this.tick();
      if ((this.now - start) % 10 === 0) this.replaceWiped();
      const l = this.leader();
      if (!l) continue;
      if (probe === null || this.now - probeAt > 30) {
        probe = `live${this.valueSeq++}`;
        probeAt = this.now;
        const value = probe;
        this.guard(l, 'propose', () => {
          const r = l.rn.propose(encoder.encode(value));
          this.event(`liveness probe ${value} at ${l.id}: ${r.ok ? 'ok' : r.error}`);
        });
        this.drain(l);
      }
      if (this.probeAppliedEverywhere(l, probe)) {
        this.event(`liveness: ${probe} applied on every member after ${this.now - start} ticks`);
        return;
      }
    }
    if (this.checker.violations.length > 0) return;
    const l = this.leader();
    this.fail(
      'Liveness',
      `no fresh entry committed and applied on all members within ${budget} ticks after healing` +
        ` (leader: ${l ? `${l.id} term ${l.leaderTerm}` : 'none'}; ` +
        [...this.nodes.values()]
          .filter((n) => !n.decommissioned)
          .map((n) => `${n.id}:${n.up ? n.role : 'down'}/t${n.term}/applied ${n.appliedIndex}`)
          .join(' ') +
        ')',
    );
  }

  private probeAppliedEverywhere(l: SimNode, probe: string): boolean {
    const index = this.checker.valueIndex.get(probe);
    if (index === undefined) return false;
    const { voters, learners } = l.rn.status().confState;
    for (const id of [...voters, ...learners]) {
      const n = this.nodes.get(id);
      if (!n || !n.up || n.appliedIndex < index) return false;
      // A member still withholding its vote has not been admitted: the guard must not stall.
      if (n.rn.status().joining) return false;
    }
    return true;
  }
}

export function fmt(m: Message): string {
  let s = `${m.type} ${m.from}->${m.to} t${m.term}`;
  if (m.type === MessageType.App || m.type === MessageType.AppResp || m.type === MessageType.ReadIndexResp) {
    s += ` i${m.index}`;
  }
  if (m.type === MessageType.App) s += ` lt${m.logTerm} n${m.entries.length} c${m.commit}`;
  if (m.type === MessageType.Vote || m.type === MessageType.PreVote) s += ` last ${m.index}/${m.logTerm}`;
  if (m.type === MessageType.Heartbeat) s += ` c${m.commit}`;
  if (m.type === MessageType.Snap && m.snapshot) s += ` snap ${m.snapshot.metadata.index}`;
  if (m.reject) s += ` REJECT hint ${m.rejectHint}/${m.hintTerm}`;
  if (m.context !== '') s += ` ctx ${m.context}`;
  return s;
}

/** Runs one seed; a failing seed is replayed with every delivery traced (runs are deterministic). */
export function runSeed(opts: SimOptions): SimResult {
  const r = new Simulation(opts).run();
  if (r.violations.length === 0 || opts.fullTrace || opts.onEvent) return r;
  return new Simulation({ ...opts, fullTrace: true }).run();
}
