// Deterministic simulation of the node as it ships (issue 13 §2): N members,
// each the real KvNode (its Ready loop, applier, housekeeping, read batcher
// and KvStateMachine) over a simulated disk (sim-disk.ts), a simulated
// network and one seeded event queue with a virtual clock (world.ts). One
// seed decides everything, so a failing seed replays exactly.
//
// Faults: message delays (reordering), drops, duplicates, partitions; crashes
// at any instant (so inside every await of the loop: while a persist is
// pending, while a snapshot is installed or saved), preferring members with a
// write in flight, and right when a batch lands. A crash throws the node
// object away; the member restarts from its disk's durable image through
// KvNode.openOn, as KvNode.open does.
//
// Checks, on every event: Election Safety (one leader per term, seen on the
// wire), Log Matching over the durable logs, State Machine Safety (the same
// command applied at each index everywhere, in index order), acknowledged
// writes never lost, linearizable reads never stale; after healing, liveness
// (a fresh write commits and every member applies it) and equal final states.
import { clusterIdFor, type MemberAddress } from '../bootstrap.ts';
import { KvNode, type KvNodeOptions } from '../kv-node.ts';
import type { NodeTransport, TransportHooks } from '../node-io.ts';
import { World, settle } from './world.ts';
import { SimDisk, freshImage, type DurableImage } from './sim-disk.ts';
import { seededRandom } from '../../raft/config.ts';
import { MessageType, type Entry, type Message } from '../../raft/types.ts';
import { SafetyChecker, foldHash, type Violation } from '../../raft/sim/checker.ts';
import { KvStateMachine, type ApplyResult } from '../../kv/state-machine.ts';
import type { Command } from '../../kv/commands.ts';
import { createLogger } from '../../logger.ts';
import { createMetrics, type Metrics } from '../../metrics.ts';

export interface NodeSimOptions {
  seed: number;
  /** Virtual milliseconds of faults before the network heals. */
  steps?: number;
  /** Virtual milliseconds allowed after healing for a fresh write to be applied everywhere. */
  livenessMs?: number;
  traceSize?: number;
  onEvent?: (line: string) => void;
  /** Stop at the first violation (mutation runs). */
  stopOnViolation?: boolean;
}

export interface NodeSimResult {
  seed: number;
  violations: Violation[];
  trace: string[];
  /** Fingerprint of the whole run (every event and delivery): equal for equal seeds. */
  fingerprint: number;
  stats: {
    nodes: number;
    events: number;
    delivered: number;
    acked: number;
    reads: number;
    crashes: number;
    snapshots: number;
    /** Leader messages sent before the leader's term was durable (possible only without the §1 fix). */
    earlyLeader: number;
    virtualMs: number;
  };
}

const TICK_MS = 10;
const ELECTION_TICKS = 10;
/** The read batcher's timers are real timers (read-batcher.ts): far beyond any run, cleared at the end. */
const NEVER_MS = 2 ** 31 - 1;

let sharedMetrics: Metrics | null = null;

interface Life {
  n: number;
  disk: SimDisk;
  sm: ObservedStateMachine;
  node: KvNode<NodeTransport> | null;
  hooks: TransportHooks | null;
}

interface Member {
  id: string;
  addr: MemberAddress;
  image: DurableImage;
  life: Life | null;
  lives: number;
  /** This member's disk speed: latencies up to this many ms (a slow disk widens the persist window). */
  diskMax: number;
  /** Highest term in which it was seen leading. */
  ledTerm: number;
}

interface Ack {
  key: string;
  value: string;
  index: number;
}

/** KvStateMachine reporting every apply to the checks. */
class ObservedStateMachine extends KvStateMachine {
  private readonly report: (index: number, key: string, value: string | null, last: number) => void;
  private last = 0;

  constructor(report: (index: number, key: string, value: string | null, last: number) => void) {
    super();
    this.report = report;
  }

  override apply(index: number, cmd: Command): ApplyResult {
    const fresh = index > this.appliedIndex;
    const r = super.apply(index, cmd);
    if (fresh) {
      const { requestId: _r, ...rest } = cmd;
      this.report(index, JSON.stringify(rest), cmd.op === 'put' ? cmd.value : null, this.last);
      this.last = index;
    }
    return r;
  }

  override advanceApplied(index: number): void {
    if (index > this.appliedIndex) {
      this.report(index, '(no command)', null, this.last);
      this.last = index;
    }
    super.advanceApplied(index);
  }

  override restore(bytes: Uint8Array): void {
    super.restore(bytes);
    this.last = this.appliedIndex;
  }

  override async restoreAsync(bytes: Uint8Array): Promise<void> {
    await super.restoreAsync(bytes);
    this.last = this.appliedIndex;
  }
}

export async function runNodeSeed(o: NodeSimOptions): Promise<NodeSimResult> {
  const sim = new NodeSim(o);
  return sim.run();
}

class NodeSim {
  private readonly o: NodeSimOptions;
  private readonly rand: () => number;
  private readonly world = new World();
  private readonly checker = new SafetyChecker();
  private readonly members: Member[] = [];
  private readonly trace: string[] = [];
  private fingerprint = 0;
  private readonly metrics: Metrics;
  // Network faults.
  private readonly cut = new Set<string>();
  /** Extra delay of each directed link ("a>b"), fixed per seed: some links are slow. */
  private readonly linkDelay = new Map<string, number>();
  private dropRate: number;
  private dupRate: number;
  private maxDelay: number;
  private diskMax: number;
  private crashRate: number;
  private landCrashRate: number;
  private leaderCrashRate: number;
  private healed = false;
  // Checks.
  private readonly appliedKey: string[] = [];
  private readonly appliedValue: (string | null)[] = [];
  private readonly acked: Ack[] = [];
  private readonly ackedMax = new Map<string, number>();
  private readonly stats = { delivered: 0, reads: 0, crashes: 0, snapshots: 0, earlyLeader: 0 };
  private valueSeq = 0;

  constructor(o: NodeSimOptions) {
    this.o = o;
    this.rand = seededRandom(o.seed * 2654435761);
    this.metrics = sharedMetrics ??= createMetrics({ defaultMetrics: false });
    this.dropRate = this.pick([0, 0.01, 0.05]);
    this.dupRate = this.pick([0, 0.01, 0.03]);
    this.maxDelay = this.pick([3, 8, 20]);
    this.diskMax = this.pick([2, 10, 30]);
    this.crashRate = this.pick([0.5, 1, 2]);
    this.landCrashRate = this.pick([0.005, 0.02]);
    this.leaderCrashRate = this.pick([0.1, 0.3, 0.6]);
    this.checker.onViolation = (v) => this.note(`VIOLATION ${v.property}: ${v.detail}`);
  }

  private pick<T>(xs: T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }

  private note(line: string): void {
    const l = `${this.world.now()}ms ${line}`;
    this.fingerprint = foldHash(this.fingerprint, l);
    this.o.onEvent?.(l);
    this.trace.push(l);
    const max = this.o.traceSize ?? 60;
    if (this.trace.length > max) this.trace.splice(0, this.trace.length - max);
  }

  async run(): Promise<NodeSimResult> {
    const n = this.pick([3, 3, 5]);
    const addrs: MemberAddress[] = [];
    for (let i = 1; i <= n; i++)
      addrs.push({ id: `n${i}`, peerUrl: `http://n${i}:2380`, clientUrl: `http://n${i}:2379` });
    const clusterId = clusterIdFor(addrs);
    for (const addr of addrs) {
      const image = freshImage({ voters: addrs.map((a) => a.id), learners: [] }, clusterId);
      this.members.push({
        id: addr.id,
        addr,
        image,
        life: null,
        lives: 0,
        diskMax: this.pick([1, this.diskMax, this.diskMax * 3]),
        ledTerm: 0,
      });
    }
    this.note(
      `seed ${this.o.seed}: ${n} nodes, drop ${this.dropRate}, dup ${this.dupRate}, delay <=${this.maxDelay}ms, disk <=${this.diskMax}ms`,
    );
    for (const m of this.members) this.start(m);

    const steps = this.o.steps ?? 5000;
    const livenessMs = this.o.livenessMs ?? 6000;
    this.scheduleClient(steps);
    this.scheduleNemesis(steps);
    this.world.at(steps, () => this.heal());
    let probe: { value: string; index: number | null } | null = null;
    let converged = false;
    this.world.at(steps + 1, () => {
      probe = { value: `probe-${this.o.seed}`, index: null };
      this.probeLoop(probe);
    });
    const end = steps + livenessMs;
    while (this.world.step(end)) {
      await settle();
      if (this.o.stopOnViolation && this.checker.violations.length > 0) break;
      const p = probe as { value: string; index: number | null } | null;
      if (p?.index != null && this.world.now() % 20 === 0 && this.allApplied(p.index)) {
        converged = true;
        break;
      }
    }
    if (!converged && !(this.o.stopOnViolation && this.checker.violations.length > 0)) {
      const p = probe as { value: string; index: number | null } | null;
      if (p?.index == null || !this.allApplied(p.index)) {
        const applied = this.members.map((m) => `${m.id}:${m.life?.sm.appliedIndex ?? 'down'}`).join(' ');
        this.checker.fail(
          'Liveness',
          p?.index == null
            ? `no write committed within ${livenessMs}ms of healing (applied ${applied})`
            : `write at ${p.index} not applied everywhere within ${livenessMs}ms of healing (${applied})`,
        );
      }
    }
    if (converged) this.finalChecks();
    this.shutdown();
    return {
      seed: this.o.seed,
      violations: this.checker.violations,
      trace: this.checker.violations.length > 0 ? this.trace : [],
      fingerprint: this.fingerprint,
      stats: {
        nodes: n,
        events: this.world.events,
        delivered: this.stats.delivered,
        acked: this.acked.length,
        reads: this.stats.reads,
        crashes: this.stats.crashes,
        snapshots: this.stats.snapshots,
        earlyLeader: this.stats.earlyLeader,
        virtualMs: this.world.now(),
      },
    };
  }

  // ---- members ---------------------------------------------------------------

  private nodeOptions(m: Member): KvNodeOptions {
    return {
      id: m.id,
      dataDir: `/sim/${m.id}`,
      clientUrl: m.addr.clientUrl,
      peerUrl: m.addr.peerUrl,
      peers: this.members.filter((x) => x !== m).map((x) => x.addr),
      join: false,
      tickMs: TICK_MS,
      electionTicks: ELECTION_TICKS,
      snapshotThreshold: 16,
      clusterToken: '',
      proposalTimeoutMs: 2000,
      readTimeoutMs: NEVER_MS,
      unsafeLocalReads: false,
    };
  }

  private start(m: Member): void {
    const n = ++m.lives;
    const alive = (): boolean => m.life?.n === n;
    const disk = new SimDisk(m.id, m.image, {
      after: (ms, fn) => this.world.after(ms, () => alive() && fn()),
      latency: (termChange) => {
        const r = this.rand();
        // fsync stalls, more often for a batch carrying a new term or vote (a candidate's window).
        if (r < (termChange ? 0.5 : 0.02)) return this.int(30, 200);
        return r < 0.1 ? this.int(0, m.diskMax * 3) : this.int(0, m.diskMax);
      },
      onDurableEntries: (entries, prevTerm) => {
        this.maybeCrashUndurableLeader(m, entries);
        let prev = prevTerm;
        for (const e of entries) {
          this.checker.logEntry(m.id, e, prev);
          prev = e.term;
        }
      },
      onLanded: () => {
        if (!this.healed && this.rand() < this.landCrashRate) this.crash(m, 'as a batch landed');
      },
    });
    const sm = new ObservedStateMachine((index, key, value, last) =>
      this.onApplied(m.id, index, key, value, last),
    );
    const life: Life = { n, disk, sm, node: null, hooks: null };
    m.life = life;
    const log = createLogger({
      level: 'error',
      write: (line: string) => {
        if (alive()) this.checker.fail('Node error', `${m.id}: ${line.slice(0, 400)}`);
      },
    });
    const scheduler = this.world.scheduler(alive);
    void KvNode.openOn(disk, this.nodeOptions(m), log, this.metrics, {
      makeTransport: (hooks) => {
        life.hooks = hooks;
        return {
          send: (msgs: Message[]) => {
            if (alive()) for (const msg of msgs) this.send(m, msg);
          },
          setPeer: () => undefined,
          removePeer: () => undefined,
          close: () => Promise.resolve(),
        };
      },
      scheduler,
      clock: this.world,
      random: this.rand,
      instanceId: `life${n}`,
      stateMachine: () => sm,
    }).then(
      (node) => {
        if (!alive()) return;
        life.node = node;
        node.start();
      },
      (e: unknown) => {
        if (alive()) this.checker.fail('Node error', `${m.id} failed to open: ${String(e)}`);
      },
    );
  }

  private crash(m: Member, why: string): void {
    const life = m.life;
    if (!life) return;
    const keep = this.int(0, life.disk.volatileCount);
    const lost = life.disk.volatileCount - keep;
    const pending = life.disk.pendingWrites;
    m.image = life.disk.crash(keep);
    m.life = null;
    this.stats.crashes++;
    // Its real read timers (read-batcher.ts) must not outlive it.
    life.node?.reads.failAll(new Error('crashed'));
    this.note(`crash ${m.id} ${why} (${pending} writes pending, ${lost} unsynced writes lost)`);
  }

  private restart(m: Member): void {
    if (m.life) return;
    this.note(`restart ${m.id}`);
    this.start(m);
  }

  private onApplied(id: string, index: number, key: string, value: string | null, last: number): void {
    if (index !== last + 1) {
      this.checker.fail('State Machine Safety', `${id} applied ${index} right after ${last} (out of order)`);
    }
    const known = this.appliedKey[index];
    if (known === undefined) {
      this.appliedKey[index] = key;
      this.appliedValue[index] = value;
    } else if (known !== key) {
      this.checker.fail(
        'State Machine Safety',
        `${id} applied ${key} at ${index}, another member applied ${known}`,
      );
    }
  }

  // ---- network ---------------------------------------------------------------

  private send(from: Member, msg: Message): void {
    if (msg.type === MessageType.App || msg.type === MessageType.Heartbeat || msg.type === MessageType.Snap) {
      this.checker.leaderSeen(from.id, msg.term);
      if (from.life && from.life.disk.image.hardState.term < msg.term) this.stats.earlyLeader++;
      if (msg.term > from.ledTerm) {
        from.ledTerm = msg.term;
        this.note(
          `${from.id} leads term ${msg.term} (durable term ${from.life?.disk.image.hardState.term ?? '?'})`,
        );
        this.onNewLeader(from);
      }
    }
    const to = this.members.find((x) => x.id === msg.to);
    if (!to) return;
    const lifeN = from.life?.n;
    if (msg.type === MessageType.Snap && msg.snapshot) {
      const meta = msg.snapshot.metadata;
      const fromLife = from.life;
      void fromLife?.disk.snapshotDataAt(meta.index).then(
        (data) => {
          this.stats.snapshots++;
          this.deliver(from, lifeN, to, { ...msg, snapshot: { metadata: meta, data } }, true);
        },
        () => fromLife.hooks?.onSnapshotStatus(msg.to, false),
      );
      return;
    }
    this.deliver(from, lifeN, to, { ...msg }, false);
    if (this.rand() < this.dupRate) this.deliver(from, lifeN, to, { ...msg }, false);
  }

  private deliver(from: Member, fromLife: number | undefined, to: Member, msg: Message, snap: boolean): void {
    const lost = this.cut.has(`${from.id}>${to.id}`) || this.rand() < this.dropRate;
    const link = `${from.id}>${to.id}`;
    let extra = this.linkDelay.get(link);
    if (extra === undefined) {
      extra = this.pick([0, 0, 5, 25]);
      this.linkDelay.set(link, extra);
    }
    const delay = extra + this.int(0, this.maxDelay);
    this.world.after(delay, () => {
      const reportSnap = (ok: boolean): void => {
        if (snap && from.life?.n === fromLife) from.life?.hooks?.onSnapshotStatus(to.id, ok);
      };
      // A crashed sender's connection dies with it: what it had not delivered yet is often lost.
      const senderDied = from.life?.n !== fromLife;
      if (lost || (senderDied && this.rand() < 0.8) || !to.life?.node || !to.life.hooks) {
        reportSnap(false);
        return;
      }
      this.stats.delivered++;
      this.fingerprint = foldHash(
        this.fingerprint,
        `${this.world.now()}${msg.type}${msg.from}${msg.to}${msg.term}${msg.index}`,
      );
      to.life.hooks.onMessages([msg]);
      reportSnap(true);
    });
  }

  // ---- faults ------------------------------------------------------------------

  private scheduleNemesis(steps: number): void {
    const next = (): void => {
      if (this.world.now() >= steps) return;
      this.nemesis();
      this.world.after(this.int(10, Math.round(200 / this.crashRate)), next);
    };
    this.world.after(this.int(20, 80), next);
  }

  private nemesis(): void {
    const r = this.rand();
    const up = this.members.filter((m) => m.life);
    const down = this.members.filter((m) => !m.life);
    if (r < 0.35) {
      // Crash, preferring a member with a write in flight (the persist window).
      if (up.length === 0) return;
      const busy = up.filter((m) => (m.life?.disk.pendingWrites ?? 0) > 0);
      const victim = busy.length > 0 && this.rand() < 0.8 ? this.pick(busy) : this.pick(up);
      this.crash(victim, 'at random');
      const back = this.int(5, 200);
      this.world.after(back, () => this.restart(victim));
    } else if (r < 0.45) {
      if (down.length > 0) this.restart(this.pick(down));
    } else if (r < 0.55) {
      // Partition: one member or a minority cut off, in both directions.
      this.cut.clear();
      const side = new Set(this.members.filter(() => this.rand() < 0.4).map((m) => m.id));
      for (const a of this.members)
        for (const b of this.members) if (side.has(a.id) !== side.has(b.id)) this.cut.add(`${a.id}>${b.id}`);
      this.note(`partition {${[...side].join(',')}} from the rest`);
    } else if (r < 0.65) {
      if (this.cut.size > 0) this.note('partition healed');
      this.cut.clear();
    } else if (r < 0.7) {
      // One-way loss.
      const a = this.pick(this.members);
      const b = this.pick(this.members);
      if (a !== b) this.cut.add(`${a.id}>${b.id}`);
    }
  }

  /**
   * A member just started leading: sometimes crash it inside the persist window of its first
   * Readys as leader (its term, vote and first entries may not be durable yet) and bring it back
   * quickly, so it races its followers' election timers with what its disk kept.
   */
  private onNewLeader(m: Member): void {
    const life = m.life;
    if (this.healed || !life) return;
    // Leading a term its own disk does not hold yet is the window the §1 bug lived in: crash it often.
    const undurable = life.disk.image.hardState.term < m.ledTerm;
    if (this.rand() >= (undurable ? 0.2 : this.leaderCrashRate)) return;
    this.world.after(this.int(0, undurable ? 5 : m.diskMax), () => {
      if (m.life !== life || this.healed) return;
      this.crash(m, 'as a new leader');
      this.world.after(this.int(0, 30), () => this.restart(m));
    });
  }

  /**
   * Crash point: `follower` just made entries of term T durable while the member leading T has not
   * made T itself durable (possible only if a candidate can win before its vote is on disk): crash
   * that leader now, inside its persist window, and bring it back at once.
   */
  private maybeCrashUndurableLeader(follower: Member, entries: Entry[]): void {
    if (this.healed) return;
    // Wait for a command of the term (its empty entry alone would be rewritten identically).
    const last = entries[entries.length - 1];
    if (!last || !entries.some((e) => e.term === last.term && e.data.byteLength > 0)) return;
    for (const m of this.members) {
      if (m === follower || m.ledTerm !== last.term || !m.life) continue;
      if (m.life.disk.image.hardState.term >= last.term) continue;
      this.world.after(0, () => {
        if (!m.life || this.healed) return;
        this.crash(
          m,
          `leading term ${last.term} before it was durable, as ${follower.id} persisted entries of it`,
        );
        this.world.after(this.int(0, 10), () => this.restart(m));
      });
    }
  }

  private heal(): void {
    this.healed = true;
    this.cut.clear();
    this.dropRate = 0;
    this.dupRate = 0;
    for (const m of this.members) if (!m.life) this.restart(m);
    this.note('healed: network whole, every member up');
  }

  // ---- clients -------------------------------------------------------------------

  private scheduleClient(steps: number): void {
    const next = (): void => {
      if (this.world.now() >= steps) return;
      this.clientOp();
      this.world.after(this.int(1, 8), next);
    };
    this.world.after(this.int(50, 150), next);
  }

  private clientOp(): void {
    const up = this.members.filter((m) => m.life?.node);
    if (up.length === 0) return;
    const m = this.pick(up);
    const node = m.life!.node!;
    const key = `k${this.int(0, 5)}`;
    if (this.rand() < 0.7) {
      const value = `v${++this.valueSeq}`;
      this.put(m, node, key, value, () => undefined);
    } else {
      this.read(m, node, key);
    }
  }

  private put(
    m: Member,
    node: KvNode<NodeTransport>,
    key: string,
    value: string,
    done: (index: number) => void,
  ): void {
    const n = m.life?.n;
    let p: Promise<{ index: number }>;
    try {
      p = node.put(key, value, {});
    } catch {
      return;
    }
    p.then(
      ({ index }) => {
        if (m.life?.n !== n) return;
        this.acked.push({ key, value, index });
        if ((this.ackedMax.get(key) ?? 0) < index) this.ackedMax.set(key, index);
        if (this.appliedValue[index] !== value) {
          this.checker.fail(
            'Acknowledged write',
            `${m.id} acknowledged ${key}=${value} at ${index}, but ${this.appliedKey[index] ?? 'nothing'} was applied there`,
          );
        }
        done(index);
      },
      () => undefined,
    );
  }

  private read(m: Member, node: KvNode<NodeTransport>, key: string): void {
    const n = m.life?.n;
    const minIndex = this.ackedMax.get(key) ?? 0;
    let p: Promise<{ kv: { value: string; modifyIndex: number } | undefined }>;
    try {
      p = node.get(key, { consistency: 'linearizable' });
    } catch {
      return;
    }
    p.then(
      ({ kv }) => {
        if (m.life?.n !== n) return;
        this.stats.reads++;
        const got = kv?.modifyIndex ?? 0;
        if (got < minIndex) {
          this.checker.fail(
            'Linearizable reads',
            `${m.id} read ${key} at modifyIndex ${got} (${kv?.value ?? 'absent'}), but a write at ${minIndex} was acknowledged before the read began`,
          );
        } else if (kv && this.appliedValue[kv.modifyIndex] !== kv.value) {
          this.checker.fail(
            'Linearizable reads',
            `${m.id} read ${key}=${kv.value}, never applied at ${kv.modifyIndex}`,
          );
        }
      },
      () => undefined,
    );
  }

  /** After healing: retry one fresh write until a member acknowledges it. */
  private probeLoop(probe: { value: string; index: number | null }): void {
    if (probe.index !== null) return;
    const up = this.members.filter((m) => m.life?.node);
    if (up.length > 0) {
      const m = this.pick(up);
      this.put(m, m.life!.node!, 'probe', probe.value, (index) => {
        if (probe.index === null) {
          probe.index = index;
          this.note(`probe committed at ${index}`);
        }
      });
    }
    this.world.after(200, () => this.probeLoop(probe));
  }

  /** Every member is up and has applied `index` and every write acknowledged so far. */
  private allApplied(index: number): boolean {
    for (const a of this.acked) if (a.index > index) index = a.index;
    return this.members.every((m) => (m.life?.node ? m.life.sm.appliedIndex >= index : false));
  }

  private finalChecks(): void {
    const now = this.world.now();
    for (const m of this.members) {
      const sm = m.life!.sm;
      for (const a of this.acked) {
        const kv = sm.get(a.key, now);
        if (!kv || kv.modifyIndex < a.index) {
          this.checker.fail(
            'Acknowledged write',
            `${m.id} lost ${a.key}=${a.value} acknowledged at ${a.index} (holds ${kv ? `${kv.value}@${kv.modifyIndex}` : 'nothing'})`,
          );
          return;
        }
      }
    }
    // Members at the same applied index hold the same state.
    const byIndex = new Map<number, string>();
    for (const m of this.members) {
      const sm = m.life!.sm;
      const digest = JSON.stringify(
        sm.list('', 1_000_000, now).items.map((kv) => [kv.key, kv.value, kv.modifyIndex]),
      );
      const known = byIndex.get(sm.appliedIndex);
      if (known === undefined) byIndex.set(sm.appliedIndex, digest);
      else if (known !== digest)
        this.checker.fail(
          'State Machine Safety',
          `${m.id}'s state at ${sm.appliedIndex} differs from another member's`,
        );
    }
  }

  private shutdown(): void {
    for (const m of this.members) {
      const life = m.life;
      m.life = null;
      life?.node?.reads.failAll(new Error('simulation over'));
      life?.node?.writes.failAll(new Error('simulation over'));
    }
  }
}
