// Test-only agent playing scheduler, kubelet, storage provisioner and cluster DNS for this one
// machine (docs/adr/0030). Level-triggered: every tick (or kick) it lists pods, PVCs, PVs and
// EndpointSlices and moves the world one step towards their spec.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  StorageV1Api,
  setHeaderOptions,
  type V1EndpointSlice,
  type V1PersistentVolumeClaim,
  type V1Pod,
} from '@kubernetes/client-node';
import type { ImageMap } from './image-map.ts';
export { PROVISIONER, STORAGE_CLASS } from './volumes.ts';
import { startKubeletServer, type KubeletTls } from './kubelet-server.ts';
import { PodRunner } from './pod-runner.ts';
import { LocalVolumes, PROVISIONER, STORAGE_CLASS } from './volumes.ts';
import { CLUSTER_DOMAIN, loopbackForIndex, toPodIp, writeHostsFile, type HostsEntry } from './pod-network.ts';

export interface ProcessKubeletOptions {
  readonly kubeconfig: string;
  readonly stateDir: string;
  readonly imageMap: ImageMap;
  readonly repoRoot: string;
  readonly apiserverPort: number;
  /** Serving cert for the kubelet API (kubectl logs); without it there is none. */
  readonly tls?: KubeletTls;
  readonly nodeName?: string;
  /** How often the world is re-listed when nothing kicks the loop. */
  readonly resyncMs?: number;
  /** Container restart back-off (Kubernetes uses 10 s doubling to 5 min; tests want faster). */
  readonly restartBackoffMs?: { base: number; max: number };
  readonly log?: (message: string) => void;
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function errorCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number'
    ? err.code
    : undefined;
}

export class ProcessKubelet {
  readonly nodeName: string;
  readonly hostsPath: string;
  readonly volumesDir: string;
  readonly podsDir: string;
  private readonly opts: ProcessKubeletOptions;
  private readonly core: CoreV1Api;
  private readonly discovery: DiscoveryV1Api;
  private readonly storage: StorageV1Api;
  private readonly volumes: LocalVolumes;
  private readonly runners = new Map<string, PodRunner>();
  private readonly sentStatus = new Map<string, string>();
  private readonly deleting = new Set<string>();
  private readonly log: (message: string) => void;
  /**
   * Pod addresses start in a random /24 of the pool (at .1, as the first block does): two test
   * control planes on one machine (parallel suites, other checkouts) would otherwise hand out the
   * same 127.0.1.x, and their pods' fixed ports (8080, 8081) would collide.
   */
  private nextAddress = 1 + 256 * Math.floor(Math.random() * 200);
  private lastHosts = '';
  private readonly volumesRefreshedAt = new Map<string, number>();
  private lastHeartbeat = 0;
  private stopped = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(opts: ProcessKubeletOptions) {
    this.opts = opts;
    this.nodeName = opts.nodeName ?? 'process-node';
    const kc = new KubeConfig();
    kc.loadFromString(opts.kubeconfig);
    this.core = kc.makeApiClient(CoreV1Api);
    this.discovery = kc.makeApiClient(DiscoveryV1Api);
    this.storage = kc.makeApiClient(StorageV1Api);
    this.hostsPath = path.join(opts.stateDir, 'hosts');
    this.volumesDir = path.join(opts.stateDir, 'volumes');
    this.podsDir = path.join(opts.stateDir, 'pods');
    this.log =
      opts.log ??
      ((m) =>
        fs.appendFileSync(
          path.join(opts.stateDir, 'process-kubelet.log'),
          `${new Date().toISOString()} ${m}\n`,
        ));
    this.volumes = new LocalVolumes(this.core, this.volumesDir, this.log);
  }

  async start(): Promise<void> {
    for (const d of [this.volumesDir, this.podsDir]) fs.mkdirSync(d, { recursive: true });
    writeHostsFile(this.hostsPath, []);
    if (this.opts.tls !== undefined) {
      this.server = await startKubeletServer(this.opts.tls, (ns, pod, container, previous) =>
        this.runner(ns, pod)?.logPath(container, previous),
      );
    }
    await this.registerNode();
    await this.ensureStorageClass();
    this.loop = this.run();
  }

  /** Ask for a reconcile pass now instead of at the next resync. */
  kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.reconcile();
      } catch (err) {
        this.log(`reconcile: ${String(err)}`);
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.opts.resyncMs ?? 500);
        this.wake = () => {
          clearTimeout(timer);
          // Coalesce bursts of kicks (many containers changing at once) into one pass.
          setTimeout(resolve, 20);
        };
      });
    }
  }

  /** Stops every pod (SIGTERM, grace, SIGKILL) and the loop. The Node object is left to the API. */
  async stop(graceSeconds = 5): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.loop;
    this.server?.close();
    await Promise.all(
      [...this.runners.values()].map((r) =>
        r.terminate(Math.min(graceSeconds, r.pod.spec?.terminationGracePeriodSeconds ?? 30)),
      ),
    );
    this.runners.clear();
  }

  runner(namespace: string, name: string): PodRunner | undefined {
    for (const r of this.runners.values()) {
      if (r.pod.metadata?.namespace === namespace && r.pod.metadata.name === name) return r;
    }
    return undefined;
  }

  /** Every container process the kubelet currently runs (tests check none is left behind). */
  pids(): number[] {
    const out: number[] = [];
    for (const r of this.runners.values()) {
      for (const c of r.pod.spec?.containers ?? []) {
        const pid = r.containerPid(c.name);
        if (pid !== undefined) out.push(pid);
      }
    }
    return out;
  }

  private async registerNode(): Promise<void> {
    const cpu = String(os.availableParallelism());
    const memory = `${Math.floor(os.totalmem() / 1024)}Ki`;
    const resources = { cpu, memory, pods: '110', 'ephemeral-storage': '100Gi' };
    try {
      await this.core.createNode({
        body: {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: this.nodeName,
            labels: {
              'kubernetes.io/hostname': this.nodeName,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': 'amd64',
            },
          },
        },
      });
    } catch (err) {
      if (errorCode(err) !== 409) throw err;
    }
    await this.core.patchNodeStatus(
      {
        name: this.nodeName,
        body: {
          status: {
            capacity: resources,
            allocatable: resources,
            addresses: [
              { type: 'InternalIP', address: '127.0.0.1' },
              { type: 'Hostname', address: this.nodeName },
            ],
            daemonEndpoints: { kubeletEndpoint: { Port: this.server?.port ?? 0 } },
            nodeInfo: {
              architecture: 'amd64',
              operatingSystem: 'linux',
              osImage: 'process-kubelet',
              kernelVersion: os.release(),
              kubeletVersion: 'v1.33.0-process',
              kubeProxyVersion: '',
              containerRuntimeVersion: 'process://1',
              machineID: '',
              systemUUID: '',
              bootID: '',
            },
          },
        },
      },
      merge,
    );
    await this.heartbeat();
  }

  private async heartbeat(): Promise<void> {
    const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const condition = (type: string, status: string, reason: string): Record<string, string> => ({
      type,
      status,
      reason,
      message: reason,
      lastHeartbeatTime: t,
      lastTransitionTime: this.lastHeartbeat === 0 ? t : this.transitionTime,
    });
    if (this.lastHeartbeat === 0) this.transitionTime = t;
    await this.core.patchNodeStatus(
      {
        name: this.nodeName,
        body: {
          status: {
            conditions: [
              condition('Ready', 'True', 'KubeletReady'),
              condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
              condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
              condition('PIDPressure', 'False', 'KubeletHasSufficientPID'),
            ],
          },
        },
      },
      merge,
    );
    this.lastHeartbeat = Date.now();
  }

  private transitionTime = '';
  private server: { port: number; close(): void } | undefined;

  private async ensureStorageClass(): Promise<void> {
    try {
      await this.storage.createStorageClass({
        body: {
          apiVersion: 'storage.k8s.io/v1',
          kind: 'StorageClass',
          metadata: {
            name: STORAGE_CLASS,
            annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
          },
          provisioner: PROVISIONER,
          reclaimPolicy: 'Delete',
          volumeBindingMode: 'Immediate',
        },
      });
    } catch (err) {
      if (errorCode(err) !== 409) throw err;
    }
  }

  private async reconcile(): Promise<void> {
    const [pods, pvcs, pvs, slices] = await Promise.all([
      this.core.listPodForAllNamespaces(),
      this.core.listPersistentVolumeClaimForAllNamespaces(),
      this.core.listPersistentVolume(),
      this.discovery.listEndpointSliceForAllNamespaces(),
    ]);
    if (this.stopped) return;
    // One failing step (an API hiccup) must not starve the others.
    await this.step('provision', () => this.volumes.provision(pvcs.items, pvs.items));
    await this.step('schedule', () => this.schedule(pods.items, pvcs.items));
    await this.step('pods', () => this.syncPods(pods.items));
    await this.step('dns', () => Promise.resolve(this.writeHosts(slices.items, pods.items)));
    if (Date.now() - this.lastHeartbeat > 10_000) await this.step('heartbeat', () => this.heartbeat());
  }

  private async step(name: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
    } catch (err) {
      this.log(`${name}: ${String(err)}`);
    }
  }

  // ---- scheduling ----

  private async schedule(pods: readonly V1Pod[], pvcs: readonly V1PersistentVolumeClaim[]): Promise<void> {
    const bound = new Set(
      pvcs
        .filter((c) => c.status?.phase === 'Bound')
        .map((c) => `${c.metadata?.namespace ?? ''}/${c.metadata?.name ?? ''}`),
    );
    for (const pod of pods) {
      const meta = pod.metadata ?? {};
      if (pod.spec?.nodeName !== undefined || meta.deletionTimestamp !== undefined) continue;
      if ((pod.spec?.schedulerName ?? 'default-scheduler') !== 'default-scheduler') continue;
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
      const claims = (pod.spec?.volumes ?? []).flatMap((v) =>
        v.persistentVolumeClaim !== undefined ? [v.persistentVolumeClaim.claimName] : [],
      );
      if (!claims.every((c) => bound.has(`${meta.namespace ?? ''}/${c}`))) continue;
      try {
        await this.core.createNamespacedPodBinding({
          name: meta.name ?? '',
          namespace: meta.namespace ?? 'default',
          body: {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name: meta.name ?? '', uid: meta.uid ?? '' },
            target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName },
          },
        });
      } catch (err) {
        if (errorCode(err) !== 409 && errorCode(err) !== 404) throw err;
      }
    }
  }

  // ---- pods ----

  private async syncPods(pods: readonly V1Pod[]): Promise<void> {
    const seen = new Set<string>();
    for (const pod of pods) {
      if (pod.spec?.nodeName !== this.nodeName) continue;
      const uid = pod.metadata?.uid ?? '';
      seen.add(uid);
      await this.step(`pod ${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`, () =>
        this.syncPod(pod, uid),
      );
    }
    // Pods force-deleted from the API (or bound elsewhere): their processes must still go.
    for (const [uid, runner] of this.runners) {
      if (seen.has(uid)) continue;
      void runner.terminate(runner.pod.spec?.terminationGracePeriodSeconds ?? 30);
      if (runner.stopped) {
        this.runners.delete(uid);
        this.sentStatus.delete(uid);
      }
    }
  }

  private async syncPod(pod: V1Pod, uid: string): Promise<void> {
    let runner = this.runners.get(uid);
    const terminal = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
    if (runner === undefined && pod.metadata?.deletionTimestamp === undefined && !terminal) {
      const loopback = loopbackForIndex(this.nextAddress);
      this.nextAddress = (this.nextAddress % 60_000) + 1;
      runner = new PodRunner(pod, loopback, toPodIp(loopback), {
        imageMap: this.opts.imageMap,
        repoRoot: this.opts.repoRoot,
        podsDir: this.podsDir,
        hostsPath: this.hostsPath,
        preloadPath: path.join(import.meta.dirname, 'net-preload.ts'),
        apiserverPort: this.opts.apiserverPort,
        restartBackoffMs: this.opts.restartBackoffMs ?? { base: 1000, max: 10_000 },
        prepareVolumes: (p, dir) => this.volumes.prepareVolumes(p, dir),
        readKey: (kind, ns, name) => this.volumes.readKey(kind, ns, name),
        kick: () => this.kick(),
        log: this.log,
      });
      this.runners.set(uid, runner);
      this.log(`starting pod ${runner.name} at ${runner.podIp} (${runner.loopbackIp})`);
      runner.start();
    }
    if (runner === undefined) {
      if (pod.metadata?.deletionTimestamp !== undefined) await this.finalDelete(pod);
      return;
    }
    runner.pod = pod;
    if (pod.metadata?.deletionTimestamp !== undefined) {
      const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
      void runner.terminate(grace);
      if (runner.stopped) {
        await this.syncStatus(runner, pod);
        await this.finalDelete(pod);
        this.runners.delete(uid);
        this.sentStatus.delete(uid);
      } else {
        await this.syncStatus(runner, pod);
      }
      return;
    }
    await this.refreshVolumes(runner, pod);
    await this.syncStatus(runner, pod);
  }

  /** Mounted configMaps and Secrets follow their source while the pod runs (every 2 s at most). */
  private async refreshVolumes(runner: PodRunner, pod: V1Pod): Promise<void> {
    const now = Date.now();
    if (!runner.started || now - (this.volumesRefreshedAt.get(runner.uid) ?? 0) < 2000) return;
    this.volumesRefreshedAt.set(runner.uid, now);
    await this.volumes.refreshVolumes(pod, runner.podDir);
  }

  /** The kubelet's last word on a pod: remove it now that its containers are gone. */
  private async finalDelete(pod: V1Pod): Promise<void> {
    const uid = pod.metadata?.uid ?? '';
    if (this.deleting.has(uid)) return;
    this.deleting.add(uid);
    try {
      await this.core.deleteNamespacedPod({
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? 'default',
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      });
      this.log(`pod ${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''} removed`);
    } catch (err) {
      if (errorCode(err) !== 404 && errorCode(err) !== 409) {
        this.deleting.delete(uid);
        throw err;
      }
    }
  }

  private async syncStatus(runner: PodRunner, pod: V1Pod): Promise<void> {
    const { conditions, body } = runner.status();
    const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const ours = new Set(conditions.map((c) => c.type));
    const existing = pod.status?.conditions ?? [];
    const merged: Record<string, unknown>[] = existing
      .filter((c) => !ours.has(c.type))
      .map((c) => ({ ...c }));
    for (const c of conditions) {
      const prev = existing.find((e) => e.type === c.type);
      const since =
        prev !== undefined && prev.status === c.status && prev.lastTransitionTime !== undefined
          ? new Date(prev.lastTransitionTime).toISOString().replace(/\.\d+Z$/, 'Z')
          : t;
      merged.push({ ...c, lastProbeTime: null, lastTransitionTime: since });
    }
    const status = { ...body, conditions: merged };
    const fingerprint = JSON.stringify({ ...body, conditions });
    if (this.sentStatus.get(runner.uid) === fingerprint) return;
    try {
      await this.core.patchNamespacedPodStatus(
        {
          name: pod.metadata?.name ?? '',
          namespace: pod.metadata?.namespace ?? 'default',
          body: { status },
        },
        merge,
      );
      this.sentStatus.set(runner.uid, fingerprint);
    } catch (err) {
      if (errorCode(err) !== 404) throw err;
    }
  }

  // ---- DNS ----

  /** Cluster DNS as CoreDNS would answer it, from ready EndpointSlice endpoints, as a hosts file. */
  private writeHosts(slices: readonly V1EndpointSlice[], pods: readonly V1Pod[]): void {
    const entries: HostsEntry[] = [];
    for (const slice of slices) {
      const svc = slice.metadata?.labels?.['kubernetes.io/service-name'];
      const ns = slice.metadata?.namespace ?? 'default';
      if (svc === undefined || slice.addressType !== 'IPv4') continue;
      for (const ep of slice.endpoints ?? []) {
        if (ep.conditions?.ready === false) continue;
        for (const ip of ep.addresses) {
          const names = [`${svc}.${ns}.svc.${CLUSTER_DOMAIN}`, `${svc}.${ns}.svc`];
          if (ep.hostname !== undefined)
            names.push(
              `${ep.hostname}.${svc}.${ns}.svc.${CLUSTER_DOMAIN}`,
              `${ep.hostname}.${svc}.${ns}.svc`,
            );
          entries.push({ ip, names });
        }
      }
    }
    for (const pod of pods) {
      const ip = pod.status?.podIP;
      if (pod.spec?.nodeName !== this.nodeName || ip === undefined) continue;
      entries.push({
        ip,
        names: [`${ip.replaceAll('.', '-')}.${pod.metadata?.namespace ?? 'default'}.pod.${CLUSTER_DOMAIN}`],
      });
    }
    entries.sort((a, b) => (a.ip + a.names.join()).localeCompare(b.ip + b.names.join()));
    const text = JSON.stringify(entries);
    if (text === this.lastHosts) return;
    this.lastHosts = text;
    writeHostsFile(this.hostsPath, entries);
  }
}
