// Real node processes: start, kill -9, restart, pause/resume, replace with a
// fresh member. One "slot" is one machine (network namespace or port); the
// member living in it may change id when the membership nemesis replaces it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Network } from './net.ts';
import { anonymous, request, type Caller } from './http.ts';
import type { SecureSetup } from './secure.ts';

export interface ClusterOptions {
  /** Executable and leading arguments, e.g. [node, 'node/bin/kv-store.js']. */
  command: [string, ...string[]];
  slots: number;
  net: Network;
  runDir: string;
  env: NodeJS.ProcessEnv;
  /** Extra flags for every node (e.g. -tick-ms). */
  extraArgs: string[];
  log: (line: string) => void;
  /** TLS (client and peer) and auth on: certificates per member, requests as root. */
  secure?: SecureSetup;
}

export interface Member {
  id: string;
  slot: number;
  dataDir: string;
  process?: ChildProcess;
  paused: boolean;
  /** Started with -join (added through the membership API): restarts must not bootstrap. */
  joined: boolean;
  /**
   * Command line of the first start, reused by every restart (as a process
   * supervisor would): -peers must keep describing the cluster this data
   * directory was bootstrapped with, even after other members were replaced.
   */
  args?: string[];
  /** Incremented per restart, for log file names. */
  generation: number;
}

export interface StatusView {
  id: string;
  state: string;
  leader: string | null;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  members: { id: string; role: string; isLeader?: boolean; matchIndex?: number }[];
}

export class Cluster {
  readonly options: ClusterOptions;
  /** Slot -> member currently living there. */
  readonly members = new Map<number, Member>();
  #replacements = 0;

  constructor(options: ClusterOptions) {
    this.options = options;
  }

  url(slot: number): string {
    const scheme = this.options.secure ? 'https' : 'http';
    return `${scheme}://${this.options.net.host(slot)}:${this.options.net.port(slot)}`;
  }

  /** Where peers reach the slot: its own peer port in secure mode, else the client port. */
  peerAddress(slot: number): string {
    const { net } = this.options;
    return `${net.host(slot)}:${this.options.secure ? net.peerPort(slot) : net.port(slot)}`;
  }

  /** Who the runner's own requests (status, membership, final reads) are sent as. */
  get caller(): Caller {
    return this.options.secure?.admin ?? anonymous;
  }

  slots(): number[] {
    return [...this.members.keys()];
  }

  byId(id: string): Member | undefined {
    return [...this.members.values()].find((m) => m.id === id);
  }

  async start(): Promise<void> {
    for (let slot = 1; slot <= this.options.slots; slot++) {
      this.members.set(slot, {
        id: `n${slot}`,
        slot,
        dataDir: join(this.options.runDir, 'data', `n${slot}`),
        paused: false,
        joined: false,
        generation: 0,
      });
    }
    for (const m of this.members.values()) this.#spawn(m, false);
    const deadline = Date.now() + 30_000;
    for (const slot of this.slots()) {
      while (!(await this.status(slot))) {
        if (Date.now() > deadline)
          throw new Error(`${this.#member(slot).id} did not answer /v1/status within 30 s`);
        await sleep(200);
      }
    }
    await this.waitForLeader(30_000);
  }

  #peersOf(member: Member): string {
    return [...this.members.values()]
      .filter((m) => m !== member)
      .map((m) => `${m.id}=${this.peerAddress(m.slot)}`)
      .join(',');
  }

  #spawn(member: Member, joining: boolean): void {
    mkdirSync(member.dataDir, { recursive: true });
    const { net } = this.options;
    const args = member.args ?? [
      ...this.options.command.slice(1),
      '-id',
      member.id,
      '-addr',
      `${net.host(member.slot)}:${net.port(member.slot)}`,
      '-peers',
      this.#peersOf(member),
      '-data-dir',
      member.dataDir,
      ...(joining ? ['-join'] : []),
      // Frequent snapshots so catch-up by snapshot happens under faults too (the default is 100000).
      '-snapshot-threshold',
      '1000',
      ...(this.options.secure
        ? [
            '-peer-addr',
            this.peerAddress(member.slot),
            ...this.options.secure.memberArgs(member.id, net.host(member.slot)),
          ]
        : []),
      ...this.options.extraArgs,
    ];
    member.args = args;
    const [command, wrapped] = net.wrap(this.options.command[0], args, member.slot);
    const logDir = join(this.options.runDir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const fd = openSync(join(logDir, `${member.id}.${member.generation++}.log`), 'a');
    const child = spawn(command, wrapped, { env: this.options.env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.on('exit', (code, signal) => {
      if (member.process === child) member.process = undefined;
      if (code !== null && code !== 0) this.options.log(`${member.id} exited with code ${code}`);
      else if (signal && signal !== 'SIGKILL' && signal !== 'SIGTERM')
        this.options.log(`${member.id} died of ${signal}`);
    });
    member.process = child;
    member.paused = false;
  }

  isRunning(slot: number): boolean {
    return this.members.get(slot)?.process !== undefined;
  }

  kill(slot: number): void {
    const m = this.#member(slot);
    if (m.paused) this.resume(slot);
    m.process?.kill('SIGKILL');
    m.process = undefined;
  }

  restart(slot: number): void {
    const m = this.#member(slot);
    if (!m.process) this.#spawn(m, m.joined);
  }

  pause(slot: number): void {
    const m = this.#member(slot);
    if (m.process && !m.paused) {
      m.process.kill('SIGSTOP');
      m.paused = true;
    }
  }

  resume(slot: number): void {
    const m = this.#member(slot);
    if (m.process && m.paused) m.process.kill('SIGCONT');
    m.paused = false;
  }

  /** GET /v1/status from one slot, or undefined if it does not answer. */
  async status(slot: number, timeoutMs = 1000): Promise<StatusView | undefined> {
    const res = await request('GET', `${this.url(slot)}/v1/status`, undefined, timeoutMs, this.caller);
    return res.kind === 'response' && res.status === 200 ? (res.body as StatusView) : undefined;
  }

  /** Slot of the leader as reported by a majority-agreeing live node, or undefined. */
  async leaderSlot(): Promise<number | undefined> {
    const views = await Promise.all(
      this.slots()
        .filter((s) => this.isRunning(s) && !this.members.get(s)!.paused)
        .map((s) => this.status(s)),
    );
    for (const v of views) {
      if (v?.state === 'leader') return this.byId(v.id)?.slot;
    }
    const leaderId = views.find((v) => v?.leader)?.leader;
    return leaderId ? this.byId(leaderId)?.slot : undefined;
  }

  async waitForLeader(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const slot = await this.leaderSlot();
      if (slot !== undefined) return slot;
      await sleep(200);
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  /** Sends an admin request to the leader (falling back to any live node, which forwards). */
  async admin(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown } | undefined> {
    const leader = await this.leaderSlot();
    const order = [
      ...(leader !== undefined ? [leader] : []),
      ...this.slots().filter((s) => s !== leader && this.isRunning(s)),
    ];
    for (const slot of order) {
      const res = await request(method, `${this.url(slot)}${path}`, body, 5000, this.caller);
      if (res.kind === 'response' && res.status < 500) return { status: res.status, body: res.body };
    }
    return undefined;
  }

  /**
   * Removes the member in `slot`, wipes its disk and brings the slot back as a
   * brand-new member (new id) that joins as a learner and is promoted once
   * caught up. Returns a description of what happened.
   */
  async replace(slot: number, deadlineMs: number): Promise<string> {
    const old = this.#member(slot);
    const removed = await this.admin('DELETE', `/v1/cluster/members/${encodeURIComponent(old.id)}`);
    if (!removed || removed.status !== 200)
      return `remove ${old.id} refused (${removed ? `${removed.status} ${errorCode(removed.body)}` : 'no answer'})`;
    this.kill(slot);
    rmSync(old.dataDir, { recursive: true, force: true });
    const fresh: Member = {
      id: `n${slot}r${++this.#replacements}`,
      slot,
      dataDir: join(this.options.runDir, 'data', `n${slot}r${this.#replacements}`),
      paused: false,
      joined: true,
      generation: 0,
    };
    this.members.set(slot, fresh);
    const clientUrl = this.url(slot);
    const peerUrl = `${this.options.secure ? 'https' : 'http'}://${this.peerAddress(slot)}`;
    let added: { status: number; body: unknown } | undefined;
    const addDeadline = Date.now() + deadlineMs;
    while (Date.now() < addDeadline) {
      added = await this.admin('POST', '/v1/cluster/members', {
        id: fresh.id,
        peerUrl,
        clientUrl,
        role: 'learner',
      });
      if (added?.status === 201 || added?.status === 200) break;
      await sleep(500);
    }
    this.#spawn(fresh, true);
    if (added?.status !== 201 && added?.status !== 200)
      return `removed ${old.id}; adding ${fresh.id} failed (${added?.status ?? 'no answer'})`;
    while (Date.now() < addDeadline) {
      const promoted = await this.admin(
        'POST',
        `/v1/cluster/members/${encodeURIComponent(fresh.id)}/promote`,
      );
      if (promoted?.status === 200) return `replaced ${old.id} by ${fresh.id} (promoted)`;
      await sleep(500);
    }
    return `replaced ${old.id} by ${fresh.id} (still a learner)`;
  }

  async transferLeadership(): Promise<string> {
    const leader = await this.leaderSlot();
    const others = this.slots().filter((s) => s !== leader && this.isRunning(s));
    const to = others[Math.floor(Math.random() * others.length)];
    if (to === undefined) return 'transfer: no candidate';
    const res = await this.admin('POST', '/v1/cluster/leader', { to: this.#member(to).id });
    return `transfer leadership to ${this.#member(to).id}: ${res ? res.status : 'no answer'}`;
  }

  stopAll(): void {
    for (const slot of this.slots()) this.kill(slot);
  }

  #member(slot: number): Member {
    const m = this.members.get(slot);
    if (!m) throw new Error(`no member in slot ${slot}`);
    return m;
  }
}

export function errorCode(body: unknown): string {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' ? code : '';
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
