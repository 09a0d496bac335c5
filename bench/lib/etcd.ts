// etcd as the reference, with its defaults (fsync on): Debian's etcd-server 3.4 or etcd 3.6.8 built
// from the module proxy (bench/tools). Control requests go through the v3 JSON gateway of both.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Cluster, memberSpecs, type LaunchCommand, type WriteRequest } from './cluster.ts';
import { toolVersion } from './install.ts';
import type { BenchTls } from './tls.ts';
import { benchPortOffset } from './ports.ts';

export function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

interface StatusResponse {
  header?: { member_id?: string; revision?: string };
  leader?: string;
}

export interface EtcdOptions {
  version: '3.4' | '3.6';
  /** directory holding the etcd binary; null = etcd on PATH (Debian's) */
  binDir: string | null;
  members?: number;
  /** null keeps etcd's default (2 GiB) */
  quotaBackendBytes?: number | null;
  /** client URLs over TLS (--cert-file/--key-file), peers mutual TLS (--peer-*); null: plain */
  tls?: BenchTls | null;
}

/** client port base per version: 3.4 on 2379x, 3.6 on 2479x (TLS clusters 100 above); peers 10 above */
function ports(version: '3.4' | '3.6', members: number, tls: boolean): { client: number[]; peer: number[] } {
  const base = (version === '3.4' ? 23791 : 24791) + (tls ? 100 : 0) + benchPortOffset();
  return {
    client: Array.from({ length: members }, (_, i) => base + i),
    peer: Array.from({ length: members }, (_, i) => base + 10 + i),
  };
}

export class EtcdCluster extends Cluster {
  readonly system;
  readonly protocol = 'etcd' as const;
  private readonly options: EtcdOptions;
  private readonly peerPorts: number[];

  constructor(workDir: string, options: EtcdOptions) {
    mkdirSync(workDir, { recursive: true });
    const { client, peer } = ports(options.version, options.members ?? 3, (options.tls ?? null) !== null);
    super(workDir, memberSpecs(workDir, client), options.tls ?? null);
    this.system = options.version === '3.4' ? ('etcd34' as const) : ('etcd36' as const);
    this.options = options;
    this.peerPorts = peer;
  }

  private get binary(): string {
    return this.options.binDir === null ? 'etcd' : path.join(this.options.binDir, 'etcd');
  }

  protected launchCommand(index: number): LaunchCommand {
    const member = this.members[index]!;
    const peerUrl = (i: number): string => `${this.scheme}://127.0.0.1:${this.peerPorts[i]!}`;
    const initialCluster = this.members.map((m, i) => `${m.name}=${peerUrl(i)}`).join(',');
    const args = [
      '--name',
      member.name,
      '--data-dir',
      member.dataDir,
      '--listen-client-urls',
      `${this.scheme}://${member.clientHostPort}`,
      '--advertise-client-urls',
      `${this.scheme}://${member.clientHostPort}`,
      '--listen-peer-urls',
      peerUrl(index),
      '--initial-advertise-peer-urls',
      peerUrl(index),
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      `kv-store-bench-${this.system}`,
      '--initial-cluster-state',
      'new',
    ];
    if (this.tls !== null) {
      // Client certificates are not required (wrk cannot present one): see bench/README.md, TLS.
      args.push('--cert-file', this.tls.cert, '--key-file', this.tls.key);
      args.push('--peer-cert-file', this.tls.cert, '--peer-key-file', this.tls.key);
      args.push('--peer-trusted-ca-file', this.tls.ca, '--peer-client-cert-auth');
    }
    const quota = this.options.quotaBackendBytes ?? null;
    if (quota !== null) args.push('--quota-backend-bytes', String(quota));
    return { command: this.binary, args };
  }

  protected async isReady(index: number): Promise<boolean> {
    const response = await this.get(index, '/health');
    return response.status === 200 && /"health"\s*:\s*"true"/.test(response.body);
  }

  private async status(index: number): Promise<StatusResponse | null> {
    const response = await this.post(index, '/v3/maintenance/status', '{}');
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
      const leaderId = status?.leader;
      if (leaderId === undefined || leaderId === '0') continue;
      const index = statuses.findIndex((s) => s?.header?.member_id === leaderId);
      if (index >= 0) return index;
    }
    return null;
  }

  async appliedPositions(): Promise<(number | null)[]> {
    const statuses = await Promise.all(this.members.map((_, i) => this.status(i)));
    return statuses.map((s) => (s?.header?.revision === undefined ? null : Number(s.header.revision)));
  }

  /**
   * Compacts history up to the current revision and waits for it: etcd keeps every revision of
   * every key until compacted (Kubernetes compacts every 5 minutes), so large-value points would
   * otherwise fill the backend quota.
   */
  async compact(): Promise<void> {
    const status = await this.status(0);
    const revision = status?.header?.revision;
    if (revision === undefined) return;
    await this.post(0, '/v3/kv/compaction', JSON.stringify({ revision, physical: true }), 120_000);
  }

  writeRequest(key: string, value: string): WriteRequest {
    return {
      method: 'POST',
      path: '/v3/kv/put',
      body: JSON.stringify({ key: base64(key), value: base64(value) }),
    };
  }

  version(): string {
    return toolVersion(this.binary, ['--version']);
  }
}
