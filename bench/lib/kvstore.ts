// kv-store (this repository's node/bin/kv-store.js) with default settings; with TLS, the client
// API over HTTPS (-cert-file, -key-file) and peer traffic mutual TLS on a separate -peer-addr.
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Cluster, StartupError, memberSpecs, type LaunchCommand, type WriteRequest } from './cluster.ts';
import type { BenchTls } from './tls.ts';
import { benchPortOffset } from './ports.ts';

export const KV_STORE_BIN = fileURLToPath(new URL('../../node/bin/kv-store.js', import.meta.url));

interface StatusResponse {
  id?: string;
  leader?: string | null;
  appliedIndex?: number;
}

export class KvStoreCluster extends Cluster {
  readonly system = 'kvstore' as const;
  readonly protocol = 'kvstore' as const;

  constructor(workDir: string, members = 3, tls: BenchTls | null = null) {
    mkdirSync(workDir, { recursive: true });
    // TLS clusters run beside plain ones: client ports 28181+, peer ports 28281+
    const base = (tls === null ? 28081 : 28181) + benchPortOffset();
    super(
      workDir,
      memberSpecs(
        workDir,
        Array.from({ length: members }, (_, i) => base + i),
      ),
      tls,
    );
    if (!existsSync(KV_STORE_BIN)) {
      throw new StartupError(
        `kv-store binary not found at ${KV_STORE_BIN} (has the node landed on this branch?)`,
      );
    }
  }

  protected launchCommand(index: number): LaunchCommand {
    const member = this.members[index]!;
    const peerHostPort = (i: number): string =>
      this.tls === null ? this.members[i]!.clientHostPort : `127.0.0.1:${28281 + benchPortOffset() + i}`;
    const peers = this.members
      .map((m, i) => (i === index ? '' : `${m.name}=${peerHostPort(i)}`))
      .filter((p) => p !== '')
      .join(',');
    const tls =
      this.tls === null
        ? []
        : [
            '-peer-addr',
            peerHostPort(index),
            '-cert-file',
            this.tls.cert,
            '-key-file',
            this.tls.key,
            '-peer-cert-file',
            this.tls.cert,
            '-peer-key-file',
            this.tls.key,
            '-peer-trusted-ca-file',
            this.tls.ca,
          ];
    // process.execPath: the Node 24 that runs the harness (npm puts node_modules/.bin first)
    return {
      command: process.execPath,
      args: [
        KV_STORE_BIN,
        '-id',
        member.name,
        '-addr',
        member.clientHostPort,
        '-peers',
        peers,
        '-data-dir',
        member.dataDir,
        ...tls,
      ],
    };
  }

  protected async isReady(index: number): Promise<boolean> {
    return (await this.get(index, '/readyz')).status === 200;
  }

  private async status(index: number): Promise<StatusResponse | null> {
    const response = await this.get(index, '/v1/status');
    if (response.status !== 200) return null;
    try {
      return JSON.parse(response.body) as StatusResponse;
    } catch {
      return null;
    }
  }

  async leaderIndex(): Promise<number | null> {
    const statuses = await Promise.all(this.members.map((_, i) => this.status(i)));
    for (const status of statuses) {
      const leader = status?.leader;
      if (typeof leader !== 'string') continue;
      const index = this.members.findIndex((m) => m.name === leader);
      // a node that says it leads but is unreachable is no leader to us
      if (index >= 0 && statuses[index] !== null) return index;
    }
    return null;
  }

  async appliedPositions(): Promise<(number | null)[]> {
    const statuses = await Promise.all(this.members.map((_, i) => this.status(i)));
    return statuses.map((s) => (typeof s?.appliedIndex === 'number' ? s.appliedIndex : null));
  }

  writeRequest(key: string, value: string): WriteRequest {
    return { method: 'PUT', path: `/v1/kv/${key}`, body: JSON.stringify({ value }) };
  }

  version(): string {
    return `kv-store (node ${process.version})${this.tls === null ? '' : ', TLS'}`;
  }
}
