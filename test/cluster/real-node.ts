// A real worker node for the test control plane (docs/adr/0071): containerd + runc as the container
// runtime, CNI bridge + host-local on a bridge this test creates, kubelet, kube-proxy (iptables) and
// kube-scheduler built from the control plane's own Kubernetes module, CoreDNS as cluster DNS, and
// a small provisioner of `local` PersistentVolumes (the kubelet honours fsGroup on them).
// Needs root. One per machine at a time: kube-proxy owns the host's KUBE-* iptables chains.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, StorageV1Api } from '@kubernetes/client-node';
import {
  freePort,
  issueCert,
  kubeconfigYaml,
  startProcess,
  stopProcess,
  waitFor,
  type ControlPlane,
  type ManagedProcess,
  type ToolPaths,
} from './control-plane.ts';
import type { PodBridge } from './pod-bridge.ts';
import { LocalVolumes } from './volumes.ts';
import { coreDnsManifest, CLUSTER_DNS_IP } from './real-node-dns.ts';

const run = promisify(execFile);
export const REAL_NODE_NAME = 'kubelet-node';
export const LOCAL_STORAGE_CLASS = 'local-dir';
export const LOCAL_PROVISIONER = 'kv-store.test/local-dir';
const NODE_IMAGES_SCRIPT = path.join(import.meta.dirname, 'node-images.sh');
const LOCK_DIR = path.join(
  process.env['KVSTORE_TOOLS_CACHE'] ?? path.join(os.homedir(), '.cache', 'kv-store-test'),
  'real-node.lock',
);

export interface RealNodeOptions {
  readonly stateDir: string;
  readonly tools: ToolPaths;
  readonly controlPlane: ControlPlane;
  readonly bridge: PodBridge;
  /** podman image -> the names a pod spec uses for it (e.g. docker.io/library/kv-store:dev). */
  readonly images: ReadonlyMap<string, readonly string[]>;
  readonly log?: (message: string) => void;
}

function sh(file: string, args: readonly string[]): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Exclusive use of the host's iptables KUBE-* chains; a lock left by a dead process is taken over. */
function takeLock(): () => void {
  fs.mkdirSync(path.dirname(LOCK_DIR), { recursive: true });
  for (;;) {
    try {
      fs.mkdirSync(LOCK_DIR);
      fs.writeFileSync(path.join(LOCK_DIR, 'pid'), String(process.pid));
      return () => fs.rmSync(LOCK_DIR, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(path.join(LOCK_DIR, 'pid'), { encoding: 'utf8', flag: 'a+' }));
      const alive = (() => {
        try {
          return pid > 0 && process.kill(pid, 0);
        } catch {
          return false;
        }
      })();
      if (alive)
        throw new Error(`another real-kubelet node (pid ${pid}) runs on this machine (${LOCK_DIR})`, {
          cause: err,
        });
      fs.rmSync(LOCK_DIR, { recursive: true, force: true });
    }
  }
}

export class RealNode {
  readonly nodeName = REAL_NODE_NAME;
  readonly containerdAddress: string;
  readonly podLogsDir: string;
  private readonly opts: RealNodeOptions;
  private readonly runDir: string;
  private readonly processes: ManagedProcess[] = [];
  private readonly log: (message: string) => void;
  private provisioning: Promise<void> | undefined;
  private stopped = false;
  private releaseLock: (() => void) | undefined;

  constructor(opts: RealNodeOptions) {
    this.opts = opts;
    this.log = opts.log ?? (() => {});
    // Unix socket paths are limited to 108 bytes: the runtime's sockets live in a short dir.
    this.runDir = fs.mkdtempSync('/tmp/kvn-');
    this.containerdAddress = path.join(this.runDir, 'containerd.sock');
    this.podLogsDir = path.join(opts.stateDir, 'pod-logs');
  }

  /** `ctr` against this node's containerd, in the namespace the kubelet uses. */
  async ctr(args: readonly string[]): Promise<string> {
    const { stdout } = await run('ctr', ['--address', this.containerdAddress, '-n', 'k8s.io', ...args], {
      maxBuffer: 64 << 20,
    });
    return stdout;
  }

  async start(): Promise<void> {
    this.releaseLock = takeLock();
    const { stateDir, tools, controlPlane, bridge } = this.opts;
    const bin = tools.binDir;
    const logDir = path.join(stateDir, 'logs');
    const [sandboxImage, coreDnsImage] = sh('bash', [NODE_IMAGES_SCRIPT])
      .trim()
      .split('\n')
      .at(-1)!
      .split(' ');
    if (sandboxImage === undefined || coreDnsImage === undefined)
      throw new Error('node-images.sh printed nothing');

    // containerd with the CRI plugin, its own root and sockets, CNI config of our bridge.
    const cniConf = path.join(stateDir, 'cni', 'net.d');
    fs.mkdirSync(cniConf, { recursive: true });
    fs.writeFileSync(
      path.join(cniConf, '10-kv-store-test.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'kv-store-test',
        plugins: [
          {
            type: 'bridge',
            bridge: bridge.name,
            isGateway: true,
            ipMasq: false,
            // A pod reaching itself through its Service's ClusterIP comes back on its own port.
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: bridge.subnet, gateway: bridge.gateway }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: path.join(stateDir, 'cni', 'ipam'),
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      }),
    );
    const cd = path.join(stateDir, 'containerd');
    fs.mkdirSync(cd, { recursive: true });
    fs.writeFileSync(
      path.join(cd, 'config.toml'),
      [
        'version = 2',
        `root = ${JSON.stringify(path.join(cd, 'root'))}`,
        `state = ${JSON.stringify(path.join(this.runDir, 'state'))}`,
        '[grpc]',
        `  address = ${JSON.stringify(this.containerdAddress)}`,
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = ${JSON.stringify(path.join(cd, 'opt'))}`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        `  sandbox_image = ${JSON.stringify(sandboxImage)}`,
        '  disable_apparmor = true',
        // Lowering oom_score_adj is refused here even for root (runc: "failed to update
        // /proc/self/oom_score_adj: Permission denied" for the -998 the kubelet asks for sandboxes):
        // containerd clamps it to its own score instead.
        '  restrict_oom_score_adj = true',
        '  [plugins."io.containerd.grpc.v1.cri".containerd]',
        '    snapshotter = "overlayfs"',
        '    default_runtime_name = "runc"',
        '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
        '      runtime_type = "io.containerd.runc.v2"',
        '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
        '        SystemdCgroup = false',
        `        BinaryName = ${JSON.stringify(sh('bash', ['-c', 'command -v runc']).trim())}`,
        '  [plugins."io.containerd.grpc.v1.cri".cni]',
        '    bin_dir = "/usr/lib/cni"',
        `    conf_dir = ${JSON.stringify(cniConf)}`,
        '',
      ].join('\n'),
    );
    const containerd = startProcess(
      'containerd',
      'containerd',
      ['--config', path.join(cd, 'config.toml')],
      logDir,
    );
    this.processes.push(containerd);
    await waitFor('containerd', async () => (await this.ctr(['version'])).includes('Server'), 60_000, [
      containerd,
    ]);
    await this.importImages(new Map([...this.opts.images, [sandboxImage, []], [coreDnsImage, []]]));

    // Certificates: the kubelet as system:node:<name> (Node authorizer), its serving cert for the
    // apiserver's logs/exec calls, kube-proxy and the scheduler as their built-in RBAC users.
    const pki = controlPlane.pki;
    issueCert(
      pki.dir,
      'node-client',
      `/O=system:nodes/CN=system:node:${this.nodeName}`,
      'extendedKeyUsage=clientAuth',
    );
    issueCert(
      pki.dir,
      'node-serving',
      `/O=system:nodes/CN=system:node:${this.nodeName}`,
      `extendedKeyUsage=serverAuth\nsubjectAltName=IP:${bridge.gateway},DNS:${this.nodeName}`,
    );
    issueCert(pki.dir, 'kube-proxy', '/CN=system:kube-proxy', 'extendedKeyUsage=clientAuth');
    issueCert(pki.dir, 'kube-scheduler', '/CN=system:kube-scheduler', 'extendedKeyUsage=clientAuth');
    const kubeconfigFor = (user: string): string => {
      const file = path.join(stateDir, `${user}.kubeconfig`);
      fs.writeFileSync(file, kubeconfigYaml(controlPlane.server, pki, user), { mode: 0o600 });
      return file;
    };

    const schedulerPort = await freePort();
    const scheduler = startProcess(
      'kube-scheduler',
      path.join(bin, 'kube-scheduler'),
      [
        `--kubeconfig=${kubeconfigFor('kube-scheduler')}`,
        `--authentication-kubeconfig=${kubeconfigFor('kube-scheduler')}`,
        `--authorization-kubeconfig=${kubeconfigFor('kube-scheduler')}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${schedulerPort}`,
        '--leader-elect=false',
        '--v=1',
      ],
      logDir,
    );
    this.processes.push(scheduler);

    const kubeletPort = await freePort();
    const kubeletHealthz = await freePort();
    const resolvConf = path.join(stateDir, 'resolv.conf');
    fs.copyFileSync('/etc/resolv.conf', resolvConf);
    const kubeletConfig = path.join(stateDir, 'kubelet-config.yaml');
    fs.writeFileSync(
      kubeletConfig,
      JSON.stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        address: bridge.gateway,
        port: kubeletPort,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort: kubeletHealthz,
        tlsCertFile: pki.file('node-serving.crt'),
        tlsPrivateKeyFile: pki.file('node-serving.key'),
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: true },
          x509: { clientCAFile: pki.caCert },
        },
        authorization: { mode: 'Webhook' },
        cgroupDriver: 'cgroupfs',
        containerRuntimeEndpoint: `unix://${this.containerdAddress}`,
        clusterDNS: [CLUSTER_DNS_IP],
        clusterDomain: 'cluster.local',
        resolvConf,
        failSwapOn: false,
        podLogsDir: this.podLogsDir,
        // Test machines run with full disks and little memory to spare: never evict, never GC images.
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '0%', 'imagefs.available': '0%' },
        serializeImagePulls: false,
        syncFrequency: '10s',
        fileCheckFrequency: '10s',
        staticPodPath: '',
        rotateCertificates: false,
        serverTLSBootstrap: false,
        registerNode: true,
      }),
    );
    const kubelet = startProcess(
      'kubelet',
      path.join(bin, 'kubelet'),
      [
        `--config=${kubeletConfig}`,
        `--kubeconfig=${kubeconfigFor('node-client')}`,
        `--root-dir=${path.join(stateDir, 'kubelet')}`,
        `--cert-dir=${path.join(stateDir, 'kubelet-pki')}`,
        `--hostname-override=${this.nodeName}`,
        `--node-ip=${bridge.gateway}`,
        '--v=1',
      ],
      logDir,
    );
    this.processes.push(kubelet);

    const proxyConfig = path.join(stateDir, 'kube-proxy-config.yaml');
    fs.writeFileSync(
      proxyConfig,
      JSON.stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        mode: 'iptables',
        clientConnection: { kubeconfig: kubeconfigFor('kube-proxy') },
        hostnameOverride: this.nodeName,
        bindAddress: bridge.gateway,
        clusterCIDR: bridge.subnet,
        healthzBindAddress: `127.0.0.1:${await freePort()}`,
        metricsBindAddress: `127.0.0.1:${await freePort()}`,
        // Leave the machine's conntrack table size and localhost routing alone.
        conntrack: { maxPerCore: 0, min: 0 },
        iptables: { localhostNodePorts: false, syncPeriod: '10s', minSyncPeriod: '0s' },
        nodePortAddresses: [`${bridge.gateway}/32`],
      }),
    );
    const proxy = startProcess(
      'kube-proxy',
      path.join(bin, 'kube-proxy'),
      [`--config=${proxyConfig}`, '--v=1'],
      logDir,
    );
    this.processes.push(proxy);

    const kc = new KubeConfig();
    kc.loadFromString(controlPlane.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    await waitFor(
      `node ${this.nodeName} Ready`,
      async () => {
        const node = await core.readNode({ name: this.nodeName });
        return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
      },
      120_000,
      this.processes,
    );
    await this.startProvisioner(kc);
    await this.deployCoreDns(coreDnsImage, controlPlane, kc);
  }

  /** podman's images into this containerd, under every name a pod spec may use (cached archives). */
  async importImages(images: ReadonlyMap<string, readonly string[]>): Promise<void> {
    const archives = path.join(
      process.env['KVSTORE_IMAGES_CACHE'] ?? path.join(os.homedir(), '.cache', 'kv-store-images'),
      'archives',
    );
    fs.mkdirSync(archives, { recursive: true });
    for (const [image, aliases] of images) {
      const id = (await run('podman', ['image', 'inspect', '--format', '{{.Id}}', image])).stdout.trim();
      const archive = path.join(archives, `${id}.tar`);
      if (!fs.existsSync(archive)) {
        await run('podman', ['save', '--quiet', '-o', `${archive}.partial-${process.pid}`, image]);
        fs.renameSync(`${archive}.partial-${process.pid}`, archive);
      }
      await this.ctr(['images', 'import', archive]);
      // podman saves "localhost/x:t"; the kubelet asks for e.g. docker.io/library/x:t.
      for (const alias of aliases) await this.ctr(['images', 'tag', '--force', image, alias]);
    }
  }

  private async startProvisioner(kc: KubeConfig): Promise<void> {
    const core = kc.makeApiClient(CoreV1Api);
    const storage = kc.makeApiClient(StorageV1Api);
    try {
      await storage.createStorageClass({
        body: {
          apiVersion: 'storage.k8s.io/v1',
          kind: 'StorageClass',
          metadata: {
            name: LOCAL_STORAGE_CLASS,
            annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
          },
          provisioner: LOCAL_PROVISIONER,
          reclaimPolicy: 'Delete',
          volumeBindingMode: 'Immediate',
        },
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
    const volumesDir = path.join(this.opts.stateDir, 'volumes');
    fs.mkdirSync(volumesDir, { recursive: true });
    const volumes = new LocalVolumes(core, volumesDir, this.log, {
      provisioner: LOCAL_PROVISIONER,
      storageClass: LOCAL_STORAGE_CLASS,
      localNode: this.nodeName,
    });
    this.provisioning = (async () => {
      while (!this.stopped) {
        try {
          const [pvcs, pvs] = await Promise.all([
            core.listPersistentVolumeClaimForAllNamespaces(),
            core.listPersistentVolume(),
          ]);
          await volumes.provision(pvcs.items, pvs.items);
        } catch (err) {
          this.log(`provisioner: ${String(err)}`);
        }
        await sleep(500);
      }
    })();
  }

  private async deployCoreDns(image: string, controlPlane: ControlPlane, kc: KubeConfig): Promise<void> {
    const file = path.join(this.opts.stateDir, 'coredns.yaml');
    fs.writeFileSync(file, coreDnsManifest(image));
    await run(this.opts.tools.kubectl, ['--kubeconfig', controlPlane.kubeconfigPath, 'apply', '-f', file]);
    const core = kc.makeApiClient(CoreV1Api);
    await waitFor(
      'CoreDNS ready',
      async () => {
        const pods = await core.listNamespacedPod({
          namespace: 'kube-system',
          labelSelector: 'k8s-app=kube-dns',
        });
        return pods.items.some((p) =>
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
      },
      180_000,
      this.processes,
    );
  }

  /** The newest log of a pod's container (CRI format stripped), '' if none. */
  logs(namespace: string, pod: string, container?: string): string {
    if (!fs.existsSync(this.podLogsDir)) return '';
    const dirs = fs
      .readdirSync(this.podLogsDir)
      .filter((d) => d.startsWith(`${namespace}_${pod}_`))
      .map((d) => path.join(this.podLogsDir, d));
    const files = dirs.flatMap((d) =>
      fs
        .readdirSync(d)
        .filter((c) => container === undefined || c === container)
        .flatMap((c) => fs.readdirSync(path.join(d, c)).map((f) => path.join(d, c, f))),
    );
    files.sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
    const file = files.at(-1);
    if (file === undefined) return '';
    // CRI lines: "<RFC3339 time> <stdout|stderr> <F|P> <text>"
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .map((l) => l.replace(/^\S+ (stdout|stderr) [FP] /, ''))
      .join('\n');
  }

  /** The containerd id of a running container of a pod (from the pod's status). */
  static containerId(status: { containerID?: string } | undefined): string | undefined {
    return status?.containerID?.replace(/^containerd:\/\//, '');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.provisioning;
    const [kubelet, proxy, scheduler] = ['kubelet', 'kube-proxy', 'kube-scheduler'].map((n) =>
      this.processes.find((p) => p.name === n),
    );
    for (const p of [kubelet, scheduler]) if (p !== undefined) await stopProcess(p);
    // Containers outlive containerd (their shims are separate processes): kill every task,
    // remember the sandboxes' network namespaces, then stop containerd and its shims.
    const netns = new Set<string>();
    try {
      const ids = (await this.ctr(['containers', 'ls', '-q'])).split('\n').filter((l) => l !== '');
      for (const id of ids) {
        try {
          const info = JSON.parse(await this.ctr(['containers', 'info', id])) as {
            Spec?: { linux?: { namespaces?: { type: string; path?: string }[] } };
          };
          for (const ns of info.Spec?.linux?.namespaces ?? [])
            if (ns.type === 'network' && ns.path?.startsWith('/var/run/netns/') === true) netns.add(ns.path);
          await this.ctr(['tasks', 'kill', '-s', 'SIGKILL', id]).catch(() => '');
        } catch {
          // no task or already gone
        }
      }
      await sleep(1000);
      for (const id of ids) await this.ctr(['tasks', 'delete', '-f', id]).catch(() => '');
    } catch (err) {
      this.log(`cleanup: ${String(err)}`);
    }
    const containerd = this.processes.find((p) => p.name === 'containerd');
    if (containerd !== undefined) await stopProcess(containerd);
    this.killShims();
    if (proxy !== undefined) {
      await stopProcess(proxy);
      await run(path.join(this.opts.tools.binDir, 'kube-proxy'), ['--cleanup']).catch(() => undefined);
      // --cleanup leaves the canary chains (and the kubelet's) behind; nothing else owns KUBE-*.
      for (const table of ['nat', 'filter', 'mangle'])
        for (const chain of ['KUBE-PROXY-CANARY', 'KUBE-KUBELET-CANARY', 'KUBE-MARK-MASQ'])
          for (const op of ['-F', '-X'])
            await run('iptables', ['-t', table, op, chain]).catch(() => undefined);
    }
    this.unmountUnder([this.opts.stateDir, this.runDir]);
    for (const ns of netns) {
      try {
        sh('umount', [ns]);
      } catch {
        // not mounted
      }
      fs.rmSync(ns, { force: true });
    }
    fs.rmSync(this.runDir, { recursive: true, force: true });
    this.releaseLock?.();
  }

  /** Shims of this containerd only: their command line names its socket. */
  private killShims(): void {
    for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (cmdline.includes('containerd-shim') && cmdline.includes(this.containerdAddress))
          process.kill(Number(pid), 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
  }

  private unmountUnder(dirs: readonly string[]): void {
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => dirs.some((d) => m === d || m.startsWith(d + '/')))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      try {
        sh('umount', ['-l', m]);
      } catch {
        // already gone
      }
    }
  }
}

/** True when this machine can run the real node (root, Linux, the runtime packages present). */
export function realNodeUsable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const tool of ['containerd', 'runc', 'ctr', 'podman', 'buildah', 'iptables']) {
    try {
      sh('bash', ['-c', `command -v ${tool}`]);
    } catch {
      return `${tool} is not installed (scripts/images/build.sh and .ci/run install it)`;
    }
  }
  if (!fs.existsSync('/usr/lib/cni/bridge')) return 'containernetworking-plugins is not installed';
  return undefined;
}
