// ReadIndex bookkeeping on the leader: each read waits for a quorum of
// heartbeat acknowledgements carrying its context, proving the leader was
// still the leader when the read arrived.
import type { NodeId } from './types.ts';

export interface ReadIndexRequest {
  index: number;
  context: string;
  /** The node that asked (the leader itself for local reads). */
  from: NodeId;
  acks: Set<NodeId>;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexRequest>();
  private queue: string[] = [];

  add(index: number, context: string, from: NodeId, self: NodeId): void {
    if (this.pending.has(context)) return;
    this.pending.set(context, { index, context, from, acks: new Set([self]) });
    this.queue.push(context);
  }

  /** Records an ack for `context`; returns who has acked it so far. */
  recvAck(from: NodeId, context: string): Set<NodeId> | undefined {
    const rs = this.pending.get(context);
    if (!rs) return undefined;
    rs.acks.add(from);
    return rs.acks;
  }

  /**
   * Releases every request queued up to and including `context`: an ack for a
   * later heartbeat proves leadership for all earlier reads as well.
   */
  advance(context: string): ReadIndexRequest[] {
    const i = this.queue.indexOf(context);
    if (i < 0) return [];
    const released = this.queue.slice(0, i + 1);
    this.queue = this.queue.slice(i + 1);
    const out: ReadIndexRequest[] = [];
    for (const ctx of released) {
      const rs = this.pending.get(ctx);
      if (rs) out.push(rs);
      this.pending.delete(ctx);
    }
    return out;
  }

  lastPendingContext(): string | undefined {
    return this.queue[this.queue.length - 1];
  }

  size(): number {
    return this.queue.length;
  }
}
