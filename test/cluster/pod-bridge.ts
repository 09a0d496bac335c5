// The real-kubelet node's pod network (docs/adr/0071): a Linux bridge this test creates, with a
// /24 no interface on the machine uses yet. The CNI bridge plugin attaches pod veths to it and
// host-local hands out addresses from it; the apiserver listens on its gateway address so pods
// reach it through the `kubernetes` Service. Only addresses on this bridge are ever targets.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';

export interface PodBridge {
  /** Interface name (at most 15 characters). */
  readonly name: string;
  /** e.g. 10.213.7.0/24 */
  readonly subnet: string;
  /** The bridge's own address, the pods' default gateway: 10.213.7.1 */
  readonly gateway: string;
  remove(): void;
}

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function sysctl(key: string, value: string): void {
  const file = `/proc/sys/${key.replaceAll('.', '/')}`;
  if (fs.readFileSync(file, 'utf8').trim() !== value) fs.writeFileSync(file, value);
}

export function createPodBridge(): PodBridge {
  const used = ip(['-4', '-o', 'addr', 'show']) + ip(['-4', 'route', 'show', 'table', 'all']);
  let subnet: string | undefined;
  for (let attempt = 0; attempt < 50 && subnet === undefined; attempt++) {
    const a = 200 + crypto.randomInt(50);
    const b = crypto.randomInt(256);
    if (!used.includes(`10.${a}.${b}.`)) subnet = `10.${a}.${b}`;
  }
  if (subnet === undefined) throw new Error('no free 10.2xx.y.0/24 for the pod bridge');
  const name = `kvb${crypto.randomBytes(4).toString('hex')}`;
  const gateway = `${subnet}.1`;
  ip(['link', 'add', 'name', name, 'type', 'bridge']);
  try {
    ip(['addr', 'add', `${gateway}/24`, 'dev', name]);
    ip(['link', 'set', name, 'up']);
    // A pod reaching a ClusterIP is routed through the host (forwarding), and the answer from a
    // pod on the same bridge must pass conntrack to be un-DNATed (bridge netfilter).
    sysctl('net.ipv4.ip_forward', '1');
    sysctl('net.bridge.bridge-nf-call-iptables', '1');
  } catch (err) {
    ip(['link', 'del', name]);
    throw err;
  }
  return {
    name,
    subnet: `${subnet}.0/24`,
    gateway,
    remove() {
      try {
        ip(['link', 'del', name]);
      } catch {
        // already gone
      }
    },
  };
}
