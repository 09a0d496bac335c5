// Global bookkeeping for the simulation's safety checks. Every fact any node
// reports (an entry it persisted, an index it learned committed, an entry it
// applied, a read it was answered) is compared with what every other node has
// reported before, so a violation is caught on the step that causes it.
import type { Entry, NodeId } from '../types.ts';

const decoder = new TextDecoder();

/** Identifies an entry's content: two entries with equal keys are the same entry. */
export function entryKey(e: Entry): string {
  return `${e.term}|${e.type}|${e.data.byteLength === 0 ? '' : decoder.decode(e.data)}`;
}

/** Folds `key` into a 53-bit running hash of the applied sequence (state-machine fingerprint). */
export function foldHash(hash: number, key: string): number {
  let a = (hash % 0x200000) ^ 0x811c9dc5;
  let b = Math.floor(hash / 0x200000) ^ 0x9e3779b9;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return ((a >>> 0) % 0x200000) + (b >>> 0) * 0x200000;
}

export interface Violation {
  property: string;
  detail: string;
}

interface LogFact {
  prevTerm: number;
  key: string;
}

export class SafetyChecker {
  readonly violations: Violation[] = [];
  /** Election Safety: who led each term, over the whole history. */
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** Log Matching: "index:term" -> the term before it and the entry's content. */
  private readonly logFacts = new Map<string, LogFact>();
  /** Committed entries: content key and the (upper bound of the) term in which each was committed. */
  readonly committedKey: string[] = [];
  readonly committedTerm: number[] = [];
  /** Highest index any node has known to be committed so far. */
  maxCommitted = 0;
  /** State Machine Safety: what was applied at each index, and the state fingerprint after it. */
  private readonly appliedKey: string[] = [];
  private readonly stateHash: number[] = [0];
  /** First index at which each client value was applied (liveness probes). */
  readonly valueIndex = new Map<string, number>();

  onViolation: ((v: Violation) => void) | null = null;

  fail(property: string, detail: string): void {
    const v = { property, detail };
    this.violations.push(v);
    this.onViolation?.(v);
  }

  /** A node acted as leader of `term` (it emitted a Ready as leader). */
  leaderSeen(id: NodeId, term: number): void {
    const prev = this.leaderOfTerm.get(term);
    if (prev === undefined) this.leaderOfTerm.set(term, id);
    else if (prev !== id) this.fail('Election Safety', `term ${term} has two leaders: ${prev} and ${id}`);
  }

  /**
   * An entry entered `node`'s log right after an entry of term `prevTerm`
   * (-1: unknown, compacted). Log Matching holds iff every (index, term) pair
   * has one content and one predecessor term across all logs.
   */
  logEntry(node: NodeId, e: Entry, prevTerm: number): void {
    const k = `${e.index}:${e.term}`;
    const key = entryKey(e);
    const fact = this.logFacts.get(k);
    if (!fact) {
      this.logFacts.set(k, { prevTerm, key });
      return;
    }
    if (fact.key !== key) {
      this.fail(
        'Log Matching',
        `${node}: entry ${k} is ${JSON.stringify(key)}, elsewhere ${JSON.stringify(fact.key)}`,
      );
    } else if (prevTerm >= 0 && fact.prevTerm >= 0 && prevTerm !== fact.prevTerm) {
      this.fail(
        'Log Matching',
        `${node}: entry ${k} follows an entry of term ${prevTerm}, elsewhere of term ${fact.prevTerm}`,
      );
    } else if (fact.prevTerm < 0) {
      fact.prevTerm = prevTerm;
    }
  }

  /** `node`, in `term`, learned that `e` (at e.index) is committed. */
  committed(node: NodeId, e: Entry, term: number): void {
    const i = e.index;
    const key = entryKey(e);
    const known = this.committedKey[i];
    if (known === undefined) {
      this.committedKey[i] = key;
      this.committedTerm[i] = term;
    } else if (known !== key) {
      this.fail(
        'State Machine Safety',
        `${node} committed ${JSON.stringify(key)} at ${i}, elsewhere ${JSON.stringify(known)}`,
      );
    }
  }

  noteCommitIndex(commit: number): void {
    if (commit > this.maxCommitted) this.maxCommitted = commit;
  }

  /**
   * Leader Completeness: a leader of `leaderTerm` must hold every entry
   * committed in an earlier term, from `from` (its first log index) on.
   */
  checkLeaderHas(
    node: NodeId,
    leaderTerm: number,
    from: number,
    to: number,
    entryAt: (i: number) => Entry | undefined,
  ): void {
    for (let i = Math.max(from, 1); i <= to; i++) {
      const key = this.committedKey[i];
      const ct = this.committedTerm[i];
      if (key === undefined || ct === undefined || ct >= leaderTerm) continue;
      const e = entryAt(i);
      if (!e || entryKey(e) !== key) {
        this.fail(
          'Leader Completeness',
          `leader ${node} of term ${leaderTerm} lacks entry ${i} (${JSON.stringify(key)}) committed in term <= ${ct}; it has ${e ? JSON.stringify(entryKey(e)) : 'nothing'}`,
        );
        return;
      }
    }
  }

  /** `node` applied `e` on top of a state with fingerprint `hash`; returns the new fingerprint. */
  applied(node: NodeId, e: Entry, hash: number): number {
    const key = entryKey(e);
    const i = e.index;
    const known = this.appliedKey[i];
    if (known === undefined) this.appliedKey[i] = key;
    else if (known !== key) {
      this.fail(
        'State Machine Safety',
        `${node} applied ${JSON.stringify(key)} at ${i}, another node applied ${JSON.stringify(known)}`,
      );
    }
    const next = foldHash(hash, key);
    const h = this.stateHash[i];
    if (h === undefined) this.stateHash[i] = next;
    else if (h !== next && known === key) {
      this.fail('State Machine Safety', `${node}: state after applying ${i} differs from another node's`);
    }
    if (e.data.byteLength > 0 && e.type === 0) {
      const v = decoder.decode(e.data);
      if (!this.valueIndex.has(v)) this.valueIndex.set(v, i);
    }
    return next;
  }

  /** `node` installed a snapshot of the state after `index` with fingerprint `hash`. */
  snapshotInstalled(node: NodeId, index: number, hash: number): void {
    const h = this.stateHash[index];
    if (h === undefined) this.stateHash[index] = hash;
    else if (h !== hash)
      this.fail(
        'State Machine Safety',
        `${node} installed a snapshot at ${index} that differs from the applied state there`,
      );
  }

  /** A ReadIndex answered at `index` for a read issued when `minIndex` was already committed. */
  readAnswered(node: NodeId, context: string, index: number, minIndex: number): void {
    if (index < minIndex) {
      this.fail(
        'Linearizable reads',
        `${node}: read ${context} got read index ${index} but ${minIndex} was committed before it was issued`,
      );
    }
  }
}
