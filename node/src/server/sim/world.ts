// The simulation's world: a virtual clock and one seeded event queue that
// replaces setImmediate, setInterval, setTimeout and Date.now for every
// simulated node. Events at the same virtual time run in the order they were
// queued, so a `soon` (setImmediate) runs after everything already queued for
// this instant: what arrives "in one event-loop turn" lands in one Ready, as
// in production.
import type { Cancel, Clock, Scheduler } from '../node-io.ts';

interface Ev {
  at: number;
  seq: number;
  fn: () => void;
}

export class World implements Clock {
  private heap: Ev[] = [];
  private seq = 0;
  private time = 0;
  /** Events run so far. */
  events = 0;

  now(): number {
    return this.time;
  }

  at(at: number, fn: () => void): void {
    const ev: Ev = { at: Math.max(at, this.time), seq: this.seq++, fn };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  after(ms: number, fn: () => void): void {
    this.at(this.time + ms, fn);
  }

  get pending(): number {
    return this.heap.length;
  }

  /** Runs the next event; false when none is left or the next is after `until`. */
  step(until: number): boolean {
    const h = this.heap;
    const top = h[0];
    if (top === undefined || top.at > until) return false;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    this.time = top.at;
    this.events++;
    top.fn();
    return true;
  }

  /** A node's timers; they stop firing once `alive()` turns false (the node crashed). */
  scheduler(alive: () => boolean): Scheduler {
    return {
      soon: (fn) => {
        this.at(this.time, () => {
          if (alive()) fn();
        });
      },
      every: (ms, fn): Cancel => {
        let on = true;
        const tick = (): void => {
          if (!on || !alive()) return;
          fn();
          this.after(ms, tick);
        };
        this.after(ms, tick);
        return () => {
          on = false;
        };
      },
      after: (ms, fn): Cancel => {
        let on = true;
        this.after(ms, () => {
          if (on && alive()) fn();
        });
        return () => {
          on = false;
        };
      },
    };
  }
}

function before(a: Ev, b: Ev): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Lets every promise continuation queued by the last event run (the microtasks of one turn). */
export function settle(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
