// etcd (Debian's etcd-server) as the reference: defaults, fsync on, v3 JSON gateway.
import { mkdirSync } from 'node:fs';
import { Cluster, memberSpecs, type LaunchCommand, type WriteRequest } from './cluster.ts';
import { toolVersion } from './install.ts';

const CLIENT_PORTS = [23791, 23792, 23793];
const PEER_PORTS = [23801, 23802, 23803];

export function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

interface StatusResponse {
  header?: { member_id?: string; revision?: string };
  leader?: string;
}

export class EtcdCluster extends Cluster {
  readonly system = 'etcd' as const;
  private readonly quotaBackendBytes: number | null;

  /** quotaBackendBytes: null keeps etcd's default (2 GiB) */
  constructor(workDir: string, quotaBackendBytes: number | null = null) {
    mkdirSync(workDir, { recursive: true });
    super(workDir, memberSpecs(workDir, CLIENT_PORTS));
    this.quotaBackendBytes = quotaBackendBytes;
  }

  protected launchCommand(index: number): LaunchCommand {
    const member = this.members[index]!;
    const peerUrl = (i: number): string => `http://127.0.0.1:${PEER_PORTS[i]!}`;
    const initialCluster = this.members.map((m, i) => `${m.name}=${peerUrl(i)}`).join(',');
    const args = [
      '--name',
      member.name,
      '--data-dir',
      member.dataDir,
      '--listen-client-urls',
      `http://${member.clientHostPort}`,
      '--advertise-client-urls',
      `http://${member.clientHostPort}`,
      '--listen-peer-urls',
      peerUrl(index),
      '--initial-advertise-peer-urls',
      peerUrl(index),
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      'kv-store-bench',
      '--initial-cluster-state',
      'new',
    ];
    if (this.quotaBackendBytes !== null) args.push('--quota-backend-bytes', String(this.quotaBackendBytes));
    return { command: 'etcd', args };
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

  writeRequest(key: string, value: string): WriteRequest {
    return {
      method: 'POST',
      path: '/v3/kv/put',
      body: JSON.stringify({ key: base64(key), value: base64(value) }),
    };
  }

  version(): string {
    return toolVersion('etcd', ['--version']);
  }
}
