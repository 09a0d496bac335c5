// Where node processes live and how the nemesis cuts links between them.
//
// netns (default when root): one network namespace per node slot, each with a
// veth into a bridge in the root namespace (which is where the runner's
// clients live, so clients always reach every node, as in Jepsen). A partition
// adds blackhole routes inside the namespaces of both ends of a cut link, so
// the kernel drops the traffic: real TCP stalls and timeouts, no cooperation
// from the node needed. See docs/adr/0050-chaos-partitions.md.
//
// loopback: every node on 127.0.0.1 with its own port; no partitions.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Network {
  readonly kind: 'netns' | 'loopback';
  readonly supportsPartitions: boolean;
  setup(slots: number): Promise<void>;
  teardown(): Promise<void>;
  /** Host the node in this slot listens on and others dial. */
  host(slot: number): string;
  port(slot: number): number;
  /** Port of the separate peer listener (secure mode: peer TLS needs its own port). */
  peerPort(slot: number): number;
  /** Command and arguments to start a process inside the slot. */
  wrap(command: string, args: string[], slot: number): [string, string[]];
  /** Cut every link between slots in different groups (slots in no group keep all links). */
  partition(cuts: [number, number][]): Promise<void>;
  heal(): Promise<void>;
}

export class LoopbackNetwork implements Network {
  readonly kind = 'loopback';
  readonly supportsPartitions = false;
  readonly #basePort: number;
  constructor(basePort: number) {
    this.#basePort = basePort;
  }
  async setup(): Promise<void> {}
  async teardown(): Promise<void> {}
  host(): string {
    return '127.0.0.1';
  }
  port(slot: number): number {
    return this.#basePort + slot;
  }
  peerPort(slot: number): number {
    return this.#basePort + 50 + slot;
  }
  wrap(command: string, args: string[]): [string, string[]] {
    return [command, args];
  }
  partition(): Promise<void> {
    return Promise.reject(new Error('loopback network cannot partition; use --net netns (needs root)'));
  }
  async heal(): Promise<void> {}
}

const STATE_DIR = '/tmp/kvchaos-netns';

export class NetnsNetwork implements Network {
  readonly kind = 'netns';
  readonly supportsPartitions = true;
  readonly #tag: number;
  #slots = 0;
  #cuts: [number, number][] = [];

  constructor() {
    sweepAbandoned();
    this.#tag = pickTag();
  }

  get #bridge(): string {
    return `kc${this.#tag}br`;
  }
  #ns(slot: number): string {
    return `kc${this.#tag}n${slot}`;
  }
  host(slot: number): string {
    return `10.213.${this.#tag}.${10 + slot}`;
  }
  port(): number {
    return 8080;
  }
  peerPort(): number {
    return 8081;
  }

  async setup(slots: number): Promise<void> {
    this.#slots = slots;
    mkdirSync(STATE_DIR, { recursive: true });
    writeFileSync(`${STATE_DIR}/${this.#tag}`, `${process.pid}\n${slots}\n`);
    await ip('link', 'add', this.#bridge, 'type', 'bridge');
    await ip('addr', 'add', `10.213.${this.#tag}.1/24`, 'dev', this.#bridge);
    await ip('link', 'set', this.#bridge, 'up');
    for (let slot = 1; slot <= slots; slot++) {
      const ns = this.#ns(slot);
      const outside = `kc${this.#tag}h${slot}`;
      const inside = `kc${this.#tag}p${slot}`;
      await ip('netns', 'add', ns);
      await ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
      await ip('link', 'set', inside, 'netns', ns);
      await ip('link', 'set', outside, 'master', this.#bridge, 'up');
      await ip('-n', ns, 'addr', 'add', `${this.host(slot)}/24`, 'dev', inside);
      await ip('-n', ns, 'link', 'set', inside, 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  }

  async teardown(): Promise<void> {
    await removeNetwork(this.#tag, this.#slots);
    rmSync(`${STATE_DIR}/${this.#tag}`, { force: true });
  }

  wrap(command: string, args: string[], slot: number): [string, string[]] {
    // `ip netns exec` execs in place (no fork), so the pid we get is the node's.
    return ['ip', ['netns', 'exec', this.#ns(slot), command, ...args]];
  }

  async partition(cuts: [number, number][]): Promise<void> {
    await this.heal();
    for (const [a, b] of cuts) {
      await ip('-n', this.#ns(a), 'route', 'add', 'blackhole', `${this.host(b)}/32`);
      await ip('-n', this.#ns(b), 'route', 'add', 'blackhole', `${this.host(a)}/32`);
      this.#cuts.push([a, b]);
    }
  }

  async heal(): Promise<void> {
    for (const [a, b] of this.#cuts) {
      await ip('-n', this.#ns(a), 'route', 'del', 'blackhole', `${this.host(b)}/32`).catch(() => undefined);
      await ip('-n', this.#ns(b), 'route', 'del', 'blackhole', `${this.host(a)}/32`).catch(() => undefined);
    }
    this.#cuts = [];
  }
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

async function removeNetwork(tag: number, slots: number): Promise<void> {
  for (let slot = 1; slot <= slots; slot++) {
    await ip('netns', 'del', `kc${tag}n${slot}`).catch(() => undefined);
    // Orphaned TCP sockets can keep a deleted namespace (and so the veth pair) alive for minutes.
    await ip('link', 'del', `kc${tag}h${slot}`).catch(() => undefined);
  }
  await ip('link', 'del', `kc${tag}br`).catch(() => undefined);
}

/** A tag (third octet, name infix) not used by a live run. */
function pickTag(): number {
  const used = new Set(existsSync(STATE_DIR) ? readdirSync(STATE_DIR).map(Number) : []);
  for (let i = 0; i < 200; i++) {
    const tag = 20 + ((process.pid + i) % 200);
    if (!used.has(tag)) return tag;
  }
  throw new Error('no free network tag: too many chaos runs alive?');
}

/** Removes namespaces left behind by runs whose process died without cleaning up. */
function sweepAbandoned(): void {
  if (!existsSync(STATE_DIR)) return;
  for (const name of readdirSync(STATE_DIR)) {
    const [pidText, slotsText] = readFileSync(`${STATE_DIR}/${name}`, 'utf8').split('\n');
    const pid = Number(pidText);
    if (pid > 0 && isAlive(pid)) continue;
    void removeNetwork(Number(name), Number(slotsText) || 9).then(() =>
      rmSync(`${STATE_DIR}/${name}`, { force: true }),
    );
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function canUseNetns(): boolean {
  return process.getuid?.() === 0 && (existsSync('/usr/sbin/ip') || existsSync('/sbin/ip'));
}
