// A 3- or 5-node cluster on loopback, started as plain processes. Subclasses say how to launch a member,
// how to tell it is healthy, who leads, and what a write looks like; the rest is shared so both
// systems are measured by the same code.
import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ClusterKind } from './args.ts';
import { tryHttpRequest, type HttpResponse } from './http.ts';
import type { BenchTls } from './tls.ts';
import type { Protocol } from './wrk.ts';
import { isRunning, killHard, sleep, spawnLogged, stopGraceful, tailOfFile } from './proc.ts';

export interface MemberSpec {
  name: string;
  /** host:port of the client API */
  clientHostPort: string;
  dataDir: string;
  logFile: string;
}

export interface LaunchCommand {
  command: string;
  args: string[];
}

export interface WriteRequest {
  method: string;
  path: string;
  body: string;
}

export class StartupError extends Error {}

export abstract class Cluster {
  abstract readonly system: ClusterKind;
  /** the HTTP API wrk speaks to it */
  abstract readonly protocol: Protocol;
  readonly members: MemberSpec[];
  readonly workDir: string;
  /** client and peer ports over TLS (peers mutual), or null for plain text */
  readonly tls: BenchTls | null;
  private readonly processes: (ChildProcess | null)[];
  /** one pooled agent for control-plane requests (health, status, leader) */
  protected readonly agent: http.Agent;

  constructor(workDir: string, members: MemberSpec[], tls: BenchTls | null = null) {
    this.workDir = workDir;
    this.members = members;
    this.tls = tls;
    this.processes = members.map(() => null);
    this.agent = this.newAgent(8);
  }

  get scheme(): 'http' | 'https' {
    return this.tls === null ? 'http' : 'https';
  }

  /** A keep-alive agent for this cluster's client API (trusting its CA when it serves TLS). */
  newAgent(maxSockets: number): http.Agent {
    return this.tls === null
      ? new http.Agent({ keepAlive: true, maxSockets })
      : new https.Agent({ keepAlive: true, maxSockets, ca: readFileSync(this.tls.ca) });
  }

  protected abstract launchCommand(index: number): LaunchCommand;
  /** true when the member answers its readiness endpoint positively */
  protected abstract isReady(index: number): Promise<boolean>;
  /** index of the member the cluster considers leader, or null while unknown */
  abstract leaderIndex(): Promise<number | null>;
  /** a monotonically increasing applied position per member (null = unreachable) */
  abstract appliedPositions(): Promise<(number | null)[]>;
  abstract writeRequest(key: string, value: string): WriteRequest;
  /** version string of the software under test */
  abstract version(): string;

  protected async get(index: number, urlPath: string, timeoutMs = 1000): Promise<HttpResponse> {
    return tryHttpRequest(`${this.scheme}://${this.members[index]!.clientHostPort}${urlPath}`, {
      timeoutMs,
      agent: this.agent,
    });
  }

  protected async post(
    index: number,
    urlPath: string,
    body: string,
    timeoutMs = 1000,
  ): Promise<HttpResponse> {
    return tryHttpRequest(`${this.scheme}://${this.members[index]!.clientHostPort}${urlPath}`, {
      method: 'POST',
      body,
      timeoutMs,
      agent: this.agent,
    });
  }

  pid(index: number): number {
    const child = this.processes[index];
    if (!child?.pid || !isRunning(child))
      throw new Error(`${this.system} ${this.members[index]!.name} is not running`);
    return child.pid;
  }

  /** pids of all members (throws if one is down) */
  pids(): number[] {
    return this.members.map((_, i) => this.pid(i));
  }

  /** Spawns a member; resolves with milliseconds from spawn to ready. */
  async startMember(index: number, timeoutMs = 60_000): Promise<number> {
    const member = this.members[index]!;
    mkdirSync(member.dataDir, { recursive: true });
    const { command, args } = this.launchCommand(index);
    const startedAt = performance.now();
    const child = spawnLogged(command, args, member.logFile);
    this.processes[index] = child;
    let spawnError: Error | null = null;
    child.once('error', (error) => (spawnError = error));
    while (performance.now() - startedAt < timeoutMs) {
      if (spawnError !== null || !isRunning(child)) {
        const why =
          spawnError === null
            ? `exited with ${String(child.exitCode ?? child.signalCode)}`
            : String(spawnError);
        throw new StartupError(
          `${this.system} ${member.name} ${why}; log ${member.logFile}:\n${tailOfFile(member.logFile)}`,
        );
      }
      if (await this.isReady(index)) return performance.now() - startedAt;
      await sleep(10);
    }
    throw new StartupError(
      `${this.system} ${member.name} not ready after ${timeoutMs} ms; log ${member.logFile}:\n${tailOfFile(member.logFile)}`,
    );
  }

  /** Starts all members together (a fresh cluster bootstraps only with a quorum up). */
  async start(timeoutMs = 60_000): Promise<void> {
    const results = await Promise.allSettled(this.members.map((_, i) => this.startMember(i, timeoutMs)));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure !== undefined) {
      await this.stop();
      throw failure.reason;
    }
    await this.waitForLeader(timeoutMs);
  }

  async waitForLeader(timeoutMs = 30_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const leader = await this.leaderIndex();
      if (leader !== null) return leader;
      await sleep(20);
    }
    throw new StartupError(`${this.system}: no leader after ${timeoutMs} ms`);
  }

  /** Waits until every member has applied the same position (followers caught up). */
  async waitConverged(timeoutMs = 120_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const positions = await this.appliedPositions();
      if (positions.every((p) => p !== null && p === positions[0])) return;
      await sleep(200);
    }
    throw new Error(`${this.system}: members did not converge within ${timeoutMs} ms`);
  }

  async killMember(index: number): Promise<void> {
    const child = this.processes[index];
    if (child) await killHard(child);
    this.processes[index] = null;
  }

  async stopMember(index: number): Promise<void> {
    const child = this.processes[index];
    if (child) await stopGraceful(child);
    this.processes[index] = null;
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.stopMember(i)));
    this.agent.destroy();
  }
}

export function memberSpecs(workDir: string, clientPorts: readonly number[]): MemberSpec[] {
  return clientPorts.map((port, i) => {
    const name = `n${i + 1}`;
    return {
      name,
      clientHostPort: `127.0.0.1:${port}`,
      dataDir: path.join(workDir, 'data', name),
      logFile: path.join(workDir, `${name}.log`),
    };
  });
}
