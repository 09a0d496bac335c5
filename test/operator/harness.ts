// Helpers for the operator end-to-end suite: the control plane (test/cluster), the chart
// installed with its real RBAC, typed reads of KVClusters, node admin calls through pod IPs, and
// a client writing throughout a change that remembers every acknowledged write.
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { startCluster, REPO_ROOT, type Cluster } from '../cluster/cluster.ts';
import { startRealCluster, type RealCluster } from '../cluster/real-cluster.ts';
import { CLUSTER_DNS_IP } from '../cluster/real-node-dns.ts';

/**
 * KVSTORE_KUBELET=containerd runs the suite on a real node (kubelet + containerd + runc, CNI,
 * kube-proxy, CoreDNS; docs/adr/0071) with the images `npm run images` built; unset, on the
 * process-kubelet (docs/adr/0030).
 */
export const REAL_KUBELET = process.env.KVSTORE_KUBELET === 'containerd';

/** The images `npm run images` built, under the names the chart, the CRD default and the suite use. */
export const REAL_IMAGES: ReadonlyMap<string, readonly string[]> = new Map([
  [
    'localhost/kv-store:dev',
    [
      'docker.io/library/kv-store:dev',
      'docker.io/library/kv-store:0.1.0',
      'docker.io/library/kv-store:dev-b',
    ],
  ],
  ['localhost/kv-store-operator:dev', ['docker.io/library/kv-store-operator:0.1.0']],
]);

export const NS = 'kvtest';
export const OPERATOR_NS = 'kv-store-system';
export const RELEASE = 'kvs';

export interface KVClusterObject {
  metadata: { name: string; namespace: string; generation?: number; uid: string };
  spec: { replicas: number; image: string };
  status?: {
    phase?: string;
    replicas?: number;
    readyReplicas?: number;
    voters?: number;
    learners?: number;
    leader?: string;
    clusterId?: string;
    observedGeneration?: number;
    operation?: { kind: string; member: string; step: string };
    members?: { name: string; role: string; healthy: boolean; ready: boolean }[];
    conditions?: { type: string; status: string; reason: string; message: string }[];
    secrets?: { caBundle?: string; root?: string };
    tls?: { caPhase?: string; renewAt?: string; certificatesExpireAt?: string };
  };
}

export interface NodeStatus {
  id: string;
  clusterId: string;
  state: string;
  leader: string | null;
  members: { id: string; role: string }[];
}

export class Env {
  readonly cluster: Cluster | RealCluster;
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;

  private constructor(cluster: Cluster | RealCluster) {
    this.cluster = cluster;
    const kc = new KubeConfig();
    kc.loadFromString(cluster.kubeconfig);
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  static async start(): Promise<Env> {
    mkdirSync(path.join(REPO_ROOT, '.cache'), { recursive: true });
    // Not under /tmp: pods mount an emptyDir at /tmp, and the process-kubelet rewrites mount
    // paths in args one after another, so a volume path under /tmp would be rewritten twice.
    const stateDir = mkdtempSync(path.join(REPO_ROOT, '.cache', 'operator-e2e-'));
    if (REAL_KUBELET)
      return new Env(
        await startRealCluster({
          stateDir,
          removeStateOnStop: process.env.KVSTORE_KEEP_CLUSTER === undefined,
          images: REAL_IMAGES,
        }),
      );
    const cluster = await startCluster({
      stateDir,
      removeStateOnStop: process.env.KVSTORE_KEEP_CLUSTER === undefined,
      imageMapPath: path.join(import.meta.dirname, 'images.json'),
      restartBackoffMs: { base: 500, max: 5000 },
    });
    return new Env(cluster);
  }

  /**
   * kubectl and helm run asynchronously: the process-kubelet lives in this process, and a
   * synchronous child (e.g. `helm test` waiting for a pod) would freeze it, so the pod would never
   * start and the Node would miss its heartbeats.
   */
  private run(file: string, args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        file,
        args,
        { env: this.cluster.env, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => {
          if (err !== null)
            reject(
              new Error(`${path.basename(file)} ${args.join(' ')} failed: ${stderr}${stdout}`, {
                cause: err,
              }),
            );
          else resolve(stdout);
        },
      );
      child.stdin?.end(input ?? '');
    });
  }

  kubectl(args: string[], input?: string): Promise<string> {
    return this.run(this.cluster.tools.kubectl, args, input);
  }

  helm(args: string[]): Promise<string> {
    return this.run(this.cluster.tools.helm, args);
  }

  helmInstall(extra: string[] = []): Promise<string> {
    return this.helm([
      'install',
      RELEASE,
      path.join(REPO_ROOT, 'charts/kv-store-operator'),
      '--namespace',
      OPERATOR_NS,
      '--create-namespace',
      '--set',
      'logLevel=debug',
      '--set',
      'test.clusterName=demo',
      '--set',
      `test.namespace=${NS}`,
      ...extra,
    ]);
  }

  async kv(name = 'demo'): Promise<KVClusterObject | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({
        group: 'kvstore.io',
        version: 'v1alpha1',
        namespace: NS,
        plural: 'kvclusters',
        name,
      })) as KVClusterObject;
    } catch {
      return undefined;
    }
  }

  async pods(selector = 'app.kubernetes.io/instance=demo', namespace = NS): Promise<V1Pod[]> {
    const list = await this.core.listNamespacedPod({ namespace, labelSelector: selector });
    return list.items;
  }

  async readyPods(): Promise<V1Pod[]> {
    return (await this.pods()).filter(
      (p) =>
        p.metadata?.deletionTimestamp === undefined &&
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
  }

  /**
   * A member's client URL: with TLS (the pod has a peer port) its pod DNS name, which its
   * certificate names; without, its pod IP. On the real node the name is then looked up as this
   * pod object's IP: CoreDNS answers (and caches, 5 s) from EndpointSlices, so for seconds after a
   * pod is replaced its name resolves to the old pod or to nothing. The certificate is still
   * verified against the name.
   */
  podUrl(pod: V1Pod): string {
    const tls = pod.spec?.containers[0]?.ports?.some((p) => p.name === 'peer') === true;
    if (!tls) return `http://${pod.status?.podIP ?? 'missing-ip'}:8080`;
    const name = pod.metadata?.name ?? '';
    const cluster = pod.metadata?.labels?.['app.kubernetes.io/instance'] ?? '';
    const host = `${name}.${cluster}-peers.${pod.metadata?.namespace ?? NS}.svc.cluster.local`;
    const ip = pod.status?.podIP;
    if (REAL_KUBELET && ip !== undefined && ip !== '') podAddresses.set(host, ip);
    else podAddresses.delete(host);
    return `https://${host}:8080`;
  }

  /** The client URL through the cluster's client Service (https with TLS). */
  serviceUrl(name = 'demo', tls = true): string {
    return `${tls ? 'https' : 'http'}://${name}.${NS}.svc.cluster.local:8080`;
  }

  async secret(name: string): Promise<Record<string, string> | undefined> {
    try {
      const s = await this.core.readNamespacedSecret({ name, namespace: NS });
      return Object.fromEntries(
        Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
      );
    } catch {
      return undefined;
    }
  }

  /**
   * A client of cluster `name` as an application would be one: the CA bundle and root's
   * credentials from the Secrets the KVCluster status names, the bundle re-read as it changes.
   */
  async connect(name = 'demo'): Promise<KvClient> {
    const kv = await eventually(`${name} status names its Secrets`, async () => {
      const k = await this.kv(name);
      return k?.status?.secrets?.caBundle !== undefined && k.status.secrets.root !== undefined
        ? k
        : undefined;
    });
    const bundleSecret = kv.status!.secrets!.caBundle!;
    const root = await eventually('root credentials', () => this.secret(kv.status!.secrets!.root!));
    const readCa = async () => (await this.secret(bundleSecret))?.['ca.crt'];
    const ca = await eventually('CA bundle', readCa);
    return new KvClient({ ca, user: root['username']!, password: root['password']!, refreshCa: readCa });
  }

  async nodeStatus(pod: V1Pod, client: KvClient = PLAIN): Promise<NodeStatus> {
    const res = await client.request('GET', `${this.podUrl(pod)}/v1/status`);
    return res.json as NodeStatus;
  }

  /**
   * An address of this host that pods reach, for servers a test runs beside the cluster (MinIO):
   * the real node's bridge gateway (the pods' default route; our own bridge), loopback on the
   * process-kubelet (its pods are host processes).
   */
  hostAddressForPods(): string {
    return 'bridge' in this.cluster ? this.cluster.bridge.gateway : '127.0.0.1';
  }

  logs(pod: string, namespace = NS): string {
    return this.cluster.logs(namespace, pod);
  }

  async operatorLogs(): Promise<string> {
    const pods = await this.pods('app.kubernetes.io/name=kv-store-operator', OPERATOR_NS);
    return pods.map((p) => this.cluster.logs(OPERATOR_NS, p.metadata?.name ?? '')).join('\n');
  }

  async stop(): Promise<void> {
    await this.cluster.stop();
  }
}

export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 180_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await sleep(500);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
  );
}

export function condition(kv: KVClusterObject | undefined, type: string): string | undefined {
  return kv?.status?.conditions?.find((c) => c.type === type)?.status;
}

/** Available, membership consistent and exactly `voters` voters, observed for the current generation. */
export function settled(kv: KVClusterObject | undefined, voters: number): boolean {
  return (
    kv !== undefined &&
    kv.status?.observedGeneration === kv.metadata.generation &&
    kv.status?.phase === 'Available' &&
    kv.status.voters === voters &&
    kv.status.learners === 0 &&
    condition(kv, 'Available') === 'True' &&
    condition(kv, 'MembershipConsistent') === 'True'
  );
}

/**
 * HTTP(S) client of a kv-store cluster: verifies members against the cluster CA bundle (and
 * nothing else), logs in for a bearer token and logs in again when it is refused.
 */
/**
 * On the real node the test process sits on the host, outside the pods' resolv.conf: it asks the
 * cluster's DNS (CoreDNS behind its ClusterIP, which kube-proxy routes from the host too) for
 * cluster names, which members' certificates name. The process-kubelet's hosts file needs nothing.
 */
const clusterResolver = REAL_KUBELET ? new Resolver({ timeout: 2000, tries: 2 }) : undefined;
clusterResolver?.setServers([CLUSTER_DNS_IP]);
/** Pod DNS name -> the IP of the pod object Env.podUrl() last made its URL from (real node only). */
const podAddresses = new Map<string, string>();
function clusterLookup(
  hostname: string,
  options: { all?: boolean },
  callback: (
    err: Error | null,
    address: string | { address: string; family: number }[],
    family?: number,
  ) => void,
): void {
  const pinned = podAddresses.get(hostname);
  const resolve4 = (name: string, cb: (err: Error | null, addresses: string[]) => void): void => {
    if (pinned !== undefined) cb(null, [pinned]);
    else clusterResolver!.resolve4(name, cb);
  };
  resolve4(hostname, (err, addresses) => {
    if (err !== null || addresses[0] === undefined)
      return callback(err ?? new Error(`no address for ${hostname}`), '');
    if (options.all === true)
      return callback(
        null,
        addresses.map((address) => ({ address, family: 4 })),
      );
    callback(null, addresses[0], 4);
  });
}
function lookupFor(hostname: string): { lookup?: typeof clusterLookup } {
  return clusterResolver !== undefined && hostname.endsWith('.cluster.local')
    ? { lookup: clusterLookup }
    : {};
}

export class KvClient {
  private ca: string | undefined;
  private readonly user: string | undefined;
  private readonly password: string | undefined;
  private readonly refreshCa: (() => Promise<string | undefined>) | undefined;
  /** A client certificate presented on https:// (the member takes its CN as the user, ADR 0074). */
  private readonly identity: { cert: string; key: string } | undefined;
  private caReadAt = Date.now();
  private token: string | undefined;

  constructor(
    opts: {
      ca?: string;
      user?: string;
      password?: string;
      refreshCa?: () => Promise<string | undefined>;
      identity?: { cert: string; key: string };
    } = {},
  ) {
    this.ca = opts.ca;
    this.identity = opts.identity;
    this.user = opts.user;
    this.password = opts.password;
    this.refreshCa = opts.refreshCa;
  }

  /** One request, no credentials added. */
  async raw(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; json: unknown }> {
    // A client with the bundle mounted from a Secret sees it change within seconds; so does this one.
    if (this.refreshCa !== undefined && Date.now() - this.caReadAt > 1000) {
      this.caReadAt = Date.now();
      this.ca = (await this.refreshCa().catch(() => undefined)) ?? this.ca;
    }
    const u = new URL(url);
    const https = u.protocol === 'https:';
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(
        u,
        {
          method,
          headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
          timeout: 10_000,
          ...lookupFor(u.hostname),
          ...(https
            ? { ca: this.ca, ...this.identity, rejectUnauthorized: true, agent: false }
            : { agent: false }),
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            let json: unknown;
            try {
              json = text === '' ? undefined : JSON.parse(text);
            } catch {
              json = text;
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(payload);
    });
  }

  private async login(url: string): Promise<void> {
    const origin = new URL(url).origin;
    const res = await this.raw('POST', `${origin}/v1/auth/token`, {
      name: this.user,
      password: this.password,
    });
    if (res.status !== 200) throw new Error(`login as ${this.user ?? ''}: ${res.status}`);
    this.token = (res.json as { token: string }).token;
  }

  /** A request with the user's token (logging in first, and again once if it is refused). */
  async request(method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    if (this.user === undefined) return this.raw(method, url, body);
    if (this.token === undefined) await this.login(url);
    const auth = (): Record<string, string> =>
      this.token === undefined ? {} : { authorization: `Bearer ${this.token}` };
    let res = await this.raw(method, url, body, auth());
    if (res.status === 401) {
      await this.login(url);
      res = await this.raw(method, url, body, auth());
    }
    return res;
  }
}

/** Plain HTTP, no credentials: for clusters with TLS and auth off. */
export const PLAIN = new KvClient();

export async function put(
  base: string,
  key: string,
  value: string,
  client: KvClient = PLAIN,
): Promise<number> {
  const res = await client.request('PUT', `${base}/v1/kv/${encodeURIComponent(key)}`, { value });
  return res.status;
}

export async function get(
  base: string,
  key: string,
  client: KvClient = PLAIN,
): Promise<{ status: number; value?: string }> {
  const res = await client.request('GET', `${base}/v1/kv/${encodeURIComponent(key)}`);
  const body = res.json as { value?: string } | undefined;
  return { status: res.status, ...(body?.value !== undefined ? { value: body.value } : {}) };
}

/**
 * Writes keys one after another through whichever member is ready, retrying a key until it is
 * acknowledged. Only 200 answers count as acknowledged; check() then reads every one back.
 */
export class Writer {
  private readonly env: Env;
  private readonly prefix: string;
  private readonly client: KvClient;
  /** Through the client Service instead of one ready pod after another. */
  private readonly viaService: string | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  readonly acknowledged = new Map<string, string>();
  attempts = 0;
  failures = 0;

  constructor(env: Env, prefix: string, client: KvClient = PLAIN, viaService?: string) {
    this.env = env;
    this.prefix = prefix;
    this.client = client;
    this.viaService = viaService;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let n = 0;
    while (this.running) {
      const key = `${this.prefix}/${n}`;
      const value = `v${n}`;
      const pods = this.viaService !== undefined ? [] : await this.env.readyPods().catch(() => []);
      const pod = pods[n % Math.max(1, pods.length)];
      const base = this.viaService ?? (pod === undefined ? undefined : this.env.podUrl(pod));
      this.attempts++;
      try {
        if (base !== undefined && (await put(base, key, value, this.client)) === 200) {
          this.acknowledged.set(key, value);
          n++;
          continue;
        }
      } catch {
        // network error or timeout: outcome unknown, retry the same key (idempotent)
      }
      this.failures++;
      await sleep(200);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Keys acknowledged but missing or different now (read linearizably through a ready member). */
  async lost(): Promise<string[]> {
    const missing: string[] = [];
    for (const [key, value] of this.acknowledged) {
      const got = await eventually(
        `read ${key}`,
        async () => {
          const pods = await this.env.readyPods();
          const pod = pods[0];
          if (pod === undefined) return undefined;
          const r = await get(this.env.podUrl(pod), key, this.client);
          return r.status === 200 || r.status === 404 ? r : undefined;
        },
        60_000,
      );
      if (got.value !== value) missing.push(key);
    }
    return missing;
  }
}

export function kvclusterYaml(
  opts: {
    name?: string;
    replicas?: number;
    image?: string;
    onMemberRemoval?: string;
    /** false: spec.tls.enabled and spec.auth.enabled false (a plain-text cluster). */
    secure?: boolean;
  } = {},
): string {
  return `apiVersion: kvstore.io/v1alpha1
kind: KVCluster
metadata:
  name: ${opts.name ?? 'demo'}
  namespace: ${NS}
spec:
  replicas: ${opts.replicas ?? 3}
  image: ${opts.image ?? 'kv-store:dev'}
  storage:
    size: 64Mi
    onMemberRemoval: ${opts.onMemberRemoval ?? 'Delete'}
    onClusterDeletion: Retain
  tuning:
    tickMs: 100
    electionTicks: 10
${opts.secure === false ? '  tls: { enabled: false }\n  auth: { enabled: false }\n' : ''}`;
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
