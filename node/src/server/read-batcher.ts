// Linearizable reads share quorum rounds: every read that arrives while a
// ReadIndex round is in flight joins the next round, so one heartbeat round
// serves many reads. A read is released once the node has applied up to the
// round's read index. The reads waiting at once are bounded (maxPending): past
// it a read is refused at once (429 too-many-requests) rather than queued
// without limit while no leader answers.
import { kvError } from '../errors.ts';

/** Linearizable reads that may wait at once unless the node says otherwise. */
export const DEFAULT_MAX_PENDING_READS = 10_000;

interface PendingRead {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface Round {
  context: string;
  reads: PendingRead[];
  /** Read index answered by the leader; reads wait until applied >= it. */
  index: number | null;
  issuedAt: number;
}

export interface ReadBatcherDeps {
  /** Asks the core for a read index tagged `context`. */
  requestReadIndex(context: string): void;
  appliedIndex(): number;
  now(): number;
  /** Re-issue a round that got no answer after this long (leader changed, message lost). */
  retryAfterMs: number;
  timeoutMs: number;
  makeTimeoutError(): Error;
  /** Reads that may wait at once (queued, in flight or waiting for apply); DEFAULT_MAX_PENDING_READS if absent. */
  maxPending?: number;
}

export class ReadBatcher {
  private readonly deps: ReadBatcherDeps;
  private seq = 0;
  private readonly prefix: string;
  private queued: PendingRead[] = [];
  private inFlight: Round | null = null;
  /** Rounds answered but waiting for apply to catch up. */
  private waitingApply: Round[] = [];
  /** Reads waiting in any of the three places above. */
  private pending = 0;

  constructor(prefix: string, deps: ReadBatcherDeps) {
    this.prefix = prefix;
    this.deps = deps;
  }

  /** Resolves when a linearizable read may be served from local state. */
  wait(): Promise<void> {
    const max = this.deps.maxPending ?? DEFAULT_MAX_PENDING_READS;
    if (this.pending >= max) {
      return Promise.reject(
        kvError(
          'too-many-requests',
          `${this.pending} linearizable reads are already waiting for a quorum round; retry shortly (or read with ?consistency=stale)`,
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const read: PendingRead = {
        resolve: () => {
          this.pending--;
          resolve();
        },
        reject: (e: Error) => {
          this.pending--;
          reject(e);
        },
        timer: setTimeout(() => {
          this.drop(read);
          read.reject(this.deps.makeTimeoutError());
        }, this.deps.timeoutMs),
      };
      this.pending++;
      this.queued.push(read);
      this.maybeIssue();
    });
  }

  private drop(read: PendingRead): void {
    this.queued = this.queued.filter((r) => r !== read);
    if (this.inFlight) this.inFlight.reads = this.inFlight.reads.filter((r) => r !== read);
    for (const round of this.waitingApply) round.reads = round.reads.filter((r) => r !== read);
  }

  private maybeIssue(): void {
    if (this.inFlight || this.queued.length === 0) return;
    const round: Round = {
      context: `${this.prefix}:${++this.seq}`,
      reads: this.queued,
      index: null,
      issuedAt: this.deps.now(),
    };
    this.queued = [];
    this.inFlight = round;
    this.deps.requestReadIndex(round.context);
  }

  /** A ReadState arrived from the core. */
  onReadState(context: string, index: number): void {
    const round = this.inFlight;
    if (!round || round.context !== context) return;
    this.inFlight = null;
    round.index = index;
    this.waitingApply.push(round);
    this.onApplied();
    this.maybeIssue();
  }

  /** Called after entries are applied. */
  onApplied(): void {
    if (this.waitingApply.length === 0) return;
    const applied = this.deps.appliedIndex();
    const still: Round[] = [];
    for (const round of this.waitingApply) {
      if (round.index !== null && applied >= round.index) {
        for (const r of round.reads) {
          clearTimeout(r.timer);
          r.resolve();
        }
      } else {
        still.push(round);
      }
    }
    this.waitingApply = still;
  }

  /** Called on every tick: re-issue a round whose answer is overdue. */
  onTick(): void {
    const round = this.inFlight;
    if (!round || this.deps.now() - round.issuedAt < this.deps.retryAfterMs) return;
    // Same reads, fresh context: a later read index is still valid for reads that arrived earlier.
    round.context = `${this.prefix}:${++this.seq}`;
    round.issuedAt = this.deps.now();
    this.deps.requestReadIndex(round.context);
  }

  /** Fails every pending read (shutdown). */
  failAll(err: Error): void {
    const all = [
      ...this.queued,
      ...(this.inFlight?.reads ?? []),
      ...this.waitingApply.flatMap((r) => r.reads),
    ];
    this.queued = [];
    this.inFlight = null;
    this.waitingApply = [];
    for (const r of all) {
      clearTimeout(r.timer);
      r.reject(err);
    }
  }

  pendingCount(): number {
    return this.pending;
  }
}
