// Clients waiting for their proposals to be applied. A proposal is matched by
// its request id when applied; if another entry is applied at the index the
// leader gave it, it was overwritten and definitely never takes effect.

import { realScheduler, type Cancel, type Scheduler } from './node-io.ts';

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
  cancelTimer: Cancel;
  index?: number;
}

export class ProposalWaiters<T> {
  private readonly waiters = new Map<string, Waiter<T>>();
  private readonly byIndex = new Map<number, string>();
  private readonly scheduler: Scheduler;

  constructor(scheduler: Scheduler = realScheduler) {
    this.scheduler = scheduler;
  }

  /** Registers a waiter; it fails with `onTimeout()` if nothing is applied in time (outcome unknown). */
  register(requestId: string, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cancelTimer = this.scheduler.after(timeoutMs, () => {
        this.remove(requestId);
        reject(onTimeout());
      });
      this.waiters.set(requestId, { resolve, reject, cancelTimer });
    });
  }

  /** The leader placed the proposal at `index`. */
  placed(requestId: string, index: number): void {
    const w = this.waiters.get(requestId);
    if (!w) return;
    w.index = index;
    this.byIndex.set(index, requestId);
  }

  /** An entry was applied at `index`; `requestId` is its own id (if it has one). */
  applied(index: number, requestId: string | undefined, result: T, onOverwritten: () => Error): void {
    const placedHere = this.byIndex.get(index);
    if (placedHere !== undefined) {
      this.byIndex.delete(index);
      if (placedHere !== requestId) {
        const w = this.remove(placedHere);
        w?.reject(onOverwritten());
      }
    }
    if (requestId === undefined) return;
    const w = this.remove(requestId);
    w?.resolve(result);
  }

  fail(requestId: string, err: Error): void {
    this.remove(requestId)?.reject(err);
  }

  failAll(err: Error): void {
    for (const id of [...this.waiters.keys()]) this.fail(id, err);
  }

  size(): number {
    return this.waiters.size;
  }

  private remove(requestId: string): Waiter<T> | undefined {
    const w = this.waiters.get(requestId);
    if (!w) return undefined;
    w.cancelTimer();
    this.waiters.delete(requestId);
    if (w.index !== undefined) this.byIndex.delete(w.index);
    return w;
  }
}
