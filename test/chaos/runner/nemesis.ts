// Faults injected while the workload runs. Each fault is held for a while,
// then healed, then the cluster gets a quiet spell to make progress.
import type { Cluster } from './cluster.ts';
import { sleep } from './cluster.ts';

export const NEMESES = ['none', 'kill', 'pause', 'partition', 'member', 'all'] as const;
export type NemesisName = (typeof NEMESES)[number];

export interface NemesisOptions {
  name: NemesisName;
  /** Election timeout of the nodes; pauses and partitions last longer than this. */
  electionTimeoutMs: number;
  random: () => number;
  log: (line: string) => void;
}

export class Nemesis {
  readonly counts = new Map<string, number>();
  readonly #cluster: Cluster;
  readonly #o: NemesisOptions;
  #stopping = false;

  constructor(cluster: Cluster, options: NemesisOptions) {
    this.#cluster = cluster;
    this.#o = options;
  }

  /** Faults actually injected (refused attempts excluded). */
  get total(): number {
    return [...this.counts].filter(([k]) => !k.endsWith('-refused')).reduce((a, [, v]) => a + v, 0);
  }

  stop(): void {
    this.#stopping = true;
  }

  async run(untilMs: number): Promise<void> {
    if (this.#o.name === 'none') return;
    await this.#wait(1000, untilMs); // let the workload get going first
    while (!this.#stopping && performance.now() < untilMs - 1000) {
      const kinds =
        this.#o.name === 'all'
          ? ['kill', 'pause', 'partition', 'member'].filter(
              (k) => k !== 'partition' || this.#cluster.options.net.supportsPartitions,
            )
          : [this.#o.name];
      const kind = kinds[Math.floor(this.#o.random() * kinds.length)]!;
      try {
        await this.#inject(kind, untilMs);
      } catch (err) {
        this.#o.log(`nemesis ${kind} error: ${(err as Error).message}`);
        await this.heal();
      }
      await this.#wait(this.#between(1000, 2500), untilMs);
    }
  }

  #count(what: string, description: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
    this.#o.log(`nemesis: ${description}`);
  }

  #between(lo: number, hi: number): number {
    return lo + this.#o.random() * (hi - lo);
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#o.random() * items.length)]!;
  }

  /** The leader half the time (the interesting case), a random member otherwise. */
  async #target(): Promise<number> {
    const slots = this.#cluster.slots();
    if (this.#o.random() < 0.5) {
      const leader = await this.#cluster.leaderSlot();
      if (leader !== undefined) return leader;
    }
    return this.#pick(slots);
  }

  async #wait(ms: number, untilMs: number): Promise<void> {
    const end = Math.min(performance.now() + ms, untilMs);
    while (!this.#stopping && performance.now() < end)
      await sleep(Math.max(1, Math.min(100, end - performance.now())));
  }

  async #inject(kind: string, untilMs: number): Promise<void> {
    const c = this.#cluster;
    const name = (slot: number): string => c.members.get(slot)?.id ?? `slot${slot}`;
    const et = this.#o.electionTimeoutMs;
    switch (kind) {
      case 'kill': {
        const slot = await this.#target();
        this.#count('kill', `kill -9 ${name(slot)}`);
        c.kill(slot);
        await this.#wait(this.#between(500, 3000), untilMs);
        c.restart(slot);
        this.#o.log(`nemesis: restarted ${name(slot)}`);
        return;
      }
      case 'pause': {
        const slot = await this.#target();
        this.#count('pause', `SIGSTOP ${name(slot)}`);
        c.pause(slot);
        await this.#wait(this.#between(2 * et, 5 * et), untilMs + 2 * et);
        c.resume(slot);
        this.#o.log(`nemesis: SIGCONT ${name(slot)}`);
        return;
      }
      case 'partition': {
        if (!c.options.net.supportsPartitions) throw new Error('this network cannot partition');
        const { cuts, description } = await this.#partitionPlan();
        this.#count('partition', description);
        await c.options.net.partition(cuts);
        await this.#wait(this.#between(2 * et, 6 * et), untilMs + 2 * et);
        await c.options.net.heal();
        this.#o.log('nemesis: healed partition');
        return;
      }
      case 'member': {
        if (this.#o.random() < 0.4) {
          this.#count('transfer', await c.transferLeadership());
          return;
        }
        const slot = this.#pick(c.slots());
        const old = name(slot);
        const outcome = await c.replace(slot, 20_000);
        // A refused removal (e.g. 409 would-lose-quorum) injected nothing: count it apart.
        this.#count(
          c.members.get(slot)?.id === old ? 'member-refused' : 'member',
          `replace ${old}: ${outcome}`,
        );
        return;
      }
      default:
        throw new Error(`unknown nemesis ${kind}`);
    }
  }

  async #partitionPlan(): Promise<{ cuts: [number, number][]; description: string }> {
    const c = this.#cluster;
    const slots = shuffle(c.slots(), this.#o.random);
    const name = (slot: number): string => c.members.get(slot)?.id ?? `slot${slot}`;
    const cutsBetween = (a: number[], b: number[]): [number, number][] =>
      a.flatMap((x) => b.map((y): [number, number] => [x, y]));
    const kind = this.#pick(['isolate-leader', 'isolate-one', 'split', 'bridge']);
    if (kind === 'isolate-leader' || kind === 'isolate-one') {
      const leader = kind === 'isolate-leader' ? await c.leaderSlot() : undefined;
      const lone = leader ?? slots[0]!;
      const rest = slots.filter((s) => s !== lone);
      return {
        cuts: cutsBetween([lone], rest),
        description: `partition: isolate ${name(lone)}${leader !== undefined ? ' (leader)' : ''}`,
      };
    }
    if (kind === 'split') {
      const minority = slots.slice(0, Math.floor(slots.length / 2));
      const majority = slots.slice(minority.length);
      return {
        cuts: cutsBetween(minority, majority),
        description: `partition: split {${minority.map(name).join(',')}} | {${majority.map(name).join(',')}}`,
      };
    }
    // Bridge: two halves that only talk through one node in the middle.
    const middle = slots[0]!;
    const others = slots.slice(1);
    const left = others.slice(0, Math.floor(others.length / 2));
    const right = others.slice(left.length);
    return {
      cuts: cutsBetween(left, right),
      description: `partition: bridge {${left.map(name).join(',')}} - ${name(middle)} - {${right.map(name).join(',')}}`,
    };
  }

  /** Undoes everything: resume paused, restart killed, heal the network. */
  async heal(): Promise<void> {
    const c = this.#cluster;
    for (const slot of c.slots()) {
      c.resume(slot);
      c.restart(slot);
    }
    await c.options.net.heal();
  }
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
