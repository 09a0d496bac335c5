// Applies committed entries and membership changes to the state machine and
// answers the proposals waiting for them.
import { decodeConfChange } from '../raft/conf-change.ts';
import { ConfChangeType, EntryType, type ConfChange, type Entry, type Snapshot } from '../raft/types.ts';
import { decodeCommand } from '../kv/commands.ts';
import type { ApplyResult, KvStateMachine } from '../kv/state-machine.ts';
import { kvError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { parseMemberContext } from './bootstrap.ts';
import type { NodeStorage, NodeTransport, Scheduler } from './node-io.ts';
import type { ProposalWaiters } from './proposals.ts';

export interface AppliedWrite {
  result: ApplyResult;
  index: number;
}

export interface ApplierDeps {
  selfId: string;
  sm: KvStateMachine;
  writes: ProposalWaiters<AppliedWrite>;
  storage: Pick<NodeStorage, 'markRemoved' | 'clearRemoved'>;
  transport: Pick<NodeTransport, 'setPeer' | 'removePeer'>;
  scheduler: Scheduler;
  metrics: Metrics;
  log: Logger;
  /** How long a removed peer's address is kept so the commit of its removal reaches it. */
  forgetPeerAfterMs: number;
  fatal(e: unknown): void;
}

export class Applier {
  private readonly d: ApplierDeps;
  /** This member has applied its own removal (and not a later re-add). */
  removed = false;
  /** Conf-change answers held until the core has adopted the change (see apply). */
  private readonly afterAdvance: (() => void)[] = [];

  constructor(deps: ApplierDeps) {
    this.d = deps;
  }

  /** The core's advance() has run: answer the conf changes applied in that Ready. */
  advanced(): void {
    for (const f of this.afterAdvance.splice(0)) f();
  }

  async installSnapshot(snap: Snapshot): Promise<void> {
    const { sm, transport, selfId, log } = this.d;
    await sm.restoreAsync(snap.data);
    for (const m of sm.members()) if (m.id !== selfId) transport.setPeer(m.id, m.peerUrl);
    log.info('installed snapshot from leader', { index: snap.metadata.index, bytes: snap.data.byteLength });
  }

  apply(entries: Entry[]): void {
    const { sm, writes, metrics } = this.d;
    for (const e of entries) {
      if (e.index <= sm.appliedIndex) continue;
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        this.applyMembership(cc);
        sm.advanceApplied(e.index);
        // The core adopts the new membership in advance(): answer the caller only then, so a status read
        // right after the answer already shows the change.
        const index = e.index;
        this.afterAdvance.push(() =>
          writes.applied(index, confRequestId(cc), { result: { ok: true }, index }, overwritten),
        );
      } else if (e.data.byteLength === 0) {
        sm.advanceApplied(e.index);
        writes.applied(e.index, undefined, { result: { ok: true }, index: e.index }, overwritten);
      } else {
        // A command that does not decode is corruption of the replicated log: stop rather than diverge.
        const cmd = decodeCommand(e.data);
        const result = sm.apply(e.index, cmd);
        writes.applied(e.index, cmd.requestId, { result, index: e.index }, overwritten);
        metrics.proposalsAppliedTotal.inc();
      }
    }
    metrics.proposalsCommittedTotal.inc(entries.length);
  }

  private applyMembership(cc: ConfChange): void {
    const { sm, selfId, log, storage, transport } = this.d;
    if (cc.type === ConfChangeType.RemoveNode) {
      sm.removeMember(cc.nodeId);
      if (cc.nodeId === selfId) {
        this.removed = true;
        log.warn('this member was removed from the cluster; it will refuse to start again with this data');
        void storage.markRemoved().catch((e: unknown) => this.d.fatal(e));
      } else {
        // Let the final messages (the commit of the removal) reach it before forgetting the address.
        const id = cc.nodeId;
        this.d.scheduler.after(
          this.d.forgetPeerAfterMs,
          () => {
            if (!sm.member(id)) transport.removePeer(id);
          },
          true,
        );
      }
      return;
    }
    if (cc.nodeId === selfId && this.removed) {
      // A member id can be reused (an operator replacing a member): a fresh joiner replays its old
      // removal from the log and then this re-add, after which it is a member again.
      this.removed = false;
      log.info('this member was added back to the cluster');
      void storage.clearRemoved().catch((e: unknown) => this.d.fatal(e));
    }
    const addr = parseMemberContext(cc.context);
    if (addr) {
      sm.setMember(cc.nodeId, addr);
      if (cc.nodeId !== selfId) transport.setPeer(cc.nodeId, addr.peerUrl);
    }
  }
}

function overwritten(): Error {
  return kvError('proposal-dropped', 'the write was superseded by a new leader and was not applied; retry');
}

export function confRequestId(cc: ConfChange): string | undefined {
  if (!cc.context) return undefined;
  try {
    const v = JSON.parse(cc.context) as { requestId?: unknown };
    return typeof v.requestId === 'string' ? v.requestId : undefined;
  } catch {
    return undefined;
  }
}
