// One pod of the process-kubelet: its containers as local process groups, probes, restarts,
// graceful termination and the pod status the kubelet reports (docs/adr/0030).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { V1Container, V1EnvVar, V1Pod, V1Probe } from '@kubernetes/client-node';
import { registerForExitCleanup } from './control-plane.ts';
import { resolveImage, type ImageMap } from './image-map.ts';
import { toLoopback } from './pod-network.ts';

export interface RunnerEnvironment {
  readonly imageMap: ImageMap;
  readonly repoRoot: string;
  readonly podsDir: string;
  readonly hostsPath: string;
  readonly preloadPath: string;
  readonly apiserverPort: number;
  readonly restartBackoffMs: { readonly base: number; readonly max: number };
  /** Local directory for each volume of the pod, or undefined while one is not ready yet (e.g. an unbound PVC). */
  prepareVolumes(pod: V1Pod, podDir: string): Promise<Map<string, string> | undefined>;
  /** Values for env valueFrom configMapKeyRef/secretKeyRef and envFrom. */
  readKey(kind: 'configMap' | 'secret', namespace: string, name: string, key: string | undefined): Promise<Record<string, string> | undefined>;
  /** Something changed that the API should hear about. */
  kick(): void;
  log(message: string): void;
}

type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string }
  | { kind: 'terminated'; exitCode: number; signal?: string; reason: string; startedAt: string; finishedAt: string };

class ContainerRun {
  readonly spec: V1Container;
  readonly init: boolean;
  state: ContainerState = { kind: 'waiting', reason: 'ContainerCreating' };
  lastTerminated: ContainerState | undefined;
  restartCount = 0;
  ready = false;
  started = false;
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  probeTimers: NodeJS.Timeout[] = [];

  constructor(spec: V1Container, init: boolean) {
    this.spec = spec;
    this.init = init;
  }
}

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Kubernetes $(VAR) expansion: $$ escapes, unknown references stay as written. */
export function expandVars(value: string, vars: Readonly<Record<string, string>>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && Object.hasOwn(vars, name) ? (vars[name] ?? '') : match;
  });
}

/** Replaces a mountPath (at a path boundary) with its local directory, so `--data=/data/x` works. */
export function substituteMounts(value: string, mounts: readonly { mountPath: string; localPath: string }[]): string {
  let out = value;
  // Longest mount path first so /data/wal wins over /data.
  for (const m of [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length)) {
    const mp = m.mountPath.replace(/\/+$/, '');
    if (mp === '') continue;
    const escaped = mp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out.replace(new RegExp(`(^|[=:,\\s])${escaped}(?=$|/|[\\s,:;])`, 'g'), (_m, lead: string) => `${lead}${m.localPath}`);
  }
  return out;
}

/** KVSTORE_MOUNT_<VOLUME_MOUNT_NAME>: the volumeMount's name upper-cased, non-alphanumerics as _. */
export function mountEnvName(volumeMountName: string): string {
  return `KVSTORE_MOUNT_${volumeMountName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export class PodRunner {
  readonly uid: string;
  readonly podDir: string;
  readonly loopbackIp: string;
  readonly podIp: string;
  pod: V1Pod;
  private readonly env: RunnerEnvironment;
  private readonly initContainers: ContainerRun[];
  private readonly containers: ContainerRun[];
  private volumes: Map<string, string> | undefined;
  private initialized = false;
  private terminating = false;
  private stoppedFlag = false;
  private failedInit = false;
  private readonly startTime = now();
  private readonly backoffTimers = new Set<NodeJS.Timeout>();
  private finished: Promise<void> | undefined;

  constructor(pod: V1Pod, loopbackIp: string, podIp: string, env: RunnerEnvironment) {
    this.pod = pod;
    this.uid = pod.metadata?.uid ?? '';
    this.loopbackIp = loopbackIp;
    this.podIp = podIp;
    this.env = env;
    const meta = pod.metadata ?? {};
    this.podDir = path.join(env.podsDir, `${meta.namespace ?? 'default'}_${meta.name ?? 'pod'}_${this.uid}`);
    this.initContainers = (pod.spec?.initContainers ?? []).map((c) => new ContainerRun(c, true));
    this.containers = (pod.spec?.containers ?? []).map((c) => new ContainerRun(c, false));
  }

  get name(): string {
    return `${this.pod.metadata?.namespace ?? ''}/${this.pod.metadata?.name ?? ''}`;
  }

  /** True once terminate() finished: every container process has exited. */
  get stopped(): boolean {
    return this.stoppedFlag;
  }

  start(): void {
    fs.mkdirSync(this.podDir, { recursive: true });
    void this.run().catch((err: unknown) => this.env.log(`pod ${this.name}: ${String(err)}`));
  }

  private async run(): Promise<void> {
    while (!this.terminating) {
      this.volumes = await this.env.prepareVolumes(this.pod, this.podDir);
      if (this.volumes !== undefined) break;
      await this.delay(500);
    }
    for (const c of this.initContainers) {
      while (!this.terminating) {
        await this.startContainer(c);
        await c.exited;
        if (c.state.kind === 'terminated' && c.state.exitCode === 0) break;
        if (this.pod.spec?.restartPolicy === 'Never') {
          this.failedInit = true;
          this.env.kick();
          return;
        }
        await this.backoff(c);
      }
    }
    if (this.terminating) return;
    this.initialized = true;
    for (const c of this.containers) void this.superviseContainer(c);
    this.env.kick();
  }

  private async superviseContainer(c: ContainerRun): Promise<void> {
    while (!this.terminating) {
      await this.startContainer(c);
      await c.exited;
      if (this.terminating) return;
      const exitCode = c.state.kind === 'terminated' ? c.state.exitCode : 1;
      const policy = this.pod.spec?.restartPolicy ?? 'Always';
      if (policy === 'Never' || (policy === 'OnFailure' && exitCode === 0)) return;
      await this.backoff(c);
    }
  }

  private async backoff(c: ContainerRun): Promise<void> {
    const { base, max } = this.env.restartBackoffMs;
    const wait = Math.min(max, base * 2 ** Math.min(c.restartCount, 10));
    c.lastTerminated = c.state;
    c.state = { kind: 'waiting', reason: c.restartCount > 0 ? 'CrashLoopBackOff' : 'ContainerCreating' };
    c.restartCount += 1;
    this.env.kick();
    await this.delay(wait);
  }

  private async delay(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.backoffTimers.delete(t);
        resolve();
      }, ms);
      this.backoffTimers.add(t);
    });
  }

  private mounts(c: V1Container): { name: string; mountPath: string; localPath: string }[] {
    const out: { name: string; mountPath: string; localPath: string }[] = [];
    for (const vm of c.volumeMounts ?? []) {
      const base = this.volumes?.get(vm.name);
      if (base === undefined) continue;
      const localPath = vm.subPath !== undefined && vm.subPath !== '' ? path.join(base, vm.subPath) : base;
      fs.mkdirSync(localPath, { recursive: true });
      out.push({ name: vm.name, mountPath: vm.mountPath, localPath });
    }
    return out;
  }

  private fieldValue(fieldPath: string): string {
    const meta = this.pod.metadata ?? {};
    const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
    if (labelOrAnnotation !== null) {
      const bag = labelOrAnnotation[1] === 'labels' ? meta.labels : meta.annotations;
      return bag?.[labelOrAnnotation[2] ?? ''] ?? '';
    }
    switch (fieldPath) {
      case 'metadata.name': return meta.name ?? '';
      case 'metadata.namespace': return meta.namespace ?? '';
      case 'metadata.uid': return meta.uid ?? '';
      case 'spec.nodeName': return this.pod.spec?.nodeName ?? '';
      case 'spec.serviceAccountName': return this.pod.spec?.serviceAccountName ?? '';
      case 'status.podIP': case 'status.podIPs': return this.podIp;
      case 'status.hostIP': case 'status.hostIPs': return '127.0.0.1';
      default: return '';
    }
  }

  private async containerEnv(c: V1Container, mounts: readonly { name: string; mountPath: string; localPath: string }[],
    imageEnv: Readonly<Record<string, string>>): Promise<Record<string, string>> {
    const namespace = this.pod.metadata?.namespace ?? 'default';
    const vars: Record<string, string> = { ...imageEnv };
    for (const from of c.envFrom ?? []) {
      const ref = from.configMapRef ?? from.secretRef;
      if (ref?.name === undefined) continue;
      const values = await this.env.readKey(from.configMapRef !== undefined ? 'configMap' : 'secret', namespace, ref.name, undefined);
      if (values === undefined && ref.optional !== true) throw new Error(`envFrom ${ref.name} not found`);
      for (const [k, v] of Object.entries(values ?? {})) vars[`${from.prefix ?? ''}${k}`] = v;
    }
    for (const e of c.env ?? []) vars[e.name] = await this.envValue(e, vars, namespace, c);
    for (const m of mounts) vars[mountEnvName(m.name)] = m.localPath;
    for (const [k, v] of Object.entries(vars)) vars[k] = substituteMounts(v, mounts);
    return vars;
  }

  private async envValue(e: V1EnvVar, vars: Readonly<Record<string, string>>, namespace: string, c: V1Container): Promise<string> {
    if (e.value !== undefined) return expandVars(e.value, vars);
    const from = e.valueFrom;
    if (from?.fieldRef !== undefined) return this.fieldValue(from.fieldRef.fieldPath);
    if (from?.resourceFieldRef !== undefined) {
      const [kind, resource] = from.resourceFieldRef.resource.split('.');
      const bag = kind === 'limits' ? c.resources?.limits : c.resources?.requests;
      return String(bag?.[resource ?? ''] ?? (resource === 'cpu' ? '1' : '0'));
    }
    const keyRef = from?.configMapKeyRef ?? from?.secretKeyRef;
    if (keyRef !== undefined) {
      const values = await this.env.readKey(from?.configMapKeyRef !== undefined ? 'configMap' : 'secret', namespace, keyRef.name ?? '', keyRef.key);
      const value = values?.[keyRef.key];
      if (value === undefined && keyRef.optional !== true) throw new Error(`env ${e.name}: ${keyRef.name ?? ''}/${keyRef.key} not found`);
      return value ?? '';
    }
    return '';
  }

  private async startContainer(c: ContainerRun): Promise<void> {
    const image = c.spec.image ?? '';
    const entry = resolveImage(this.env.imageMap, image);
    if (entry === undefined) {
      c.state = { kind: 'waiting', reason: 'ErrImagePull', message: `image ${image} is not in the process-kubelet image map` };
      this.env.kick();
      // Like a pull that keeps failing: the pod stays waiting; retry slowly in case the map is fixed.
      let resolveExit!: () => void;
      c.exited = new Promise<void>((r) => (resolveExit = r));
      await this.delay(5000);
      c.state = { kind: 'terminated', exitCode: 128, reason: 'ErrImagePull', startedAt: now(), finishedAt: now() };
      resolveExit();
      return;
    }
    const mounts = this.mounts(c.spec);
    let vars: Record<string, string>;
    try {
      vars = await this.containerEnv(c.spec, mounts, entry.env ?? {});
    } catch (err) {
      c.state = { kind: 'waiting', reason: 'CreateContainerConfigError', message: String(err) };
      this.env.kick();
      c.exited = this.delay(2000).then(() => {
        c.state = { kind: 'terminated', exitCode: 128, reason: 'CreateContainerConfigError', startedAt: now(), finishedAt: now() };
      });
      return;
    }
    const expand = (v: string): string => substituteMounts(expandVars(v, vars), mounts);
    const argv = c.spec.command !== undefined
      ? [...c.spec.command, ...(c.spec.args ?? [])]
      : [...entry.command, ...(c.spec.args ?? entry.args ?? [])];
    const [file, ...args] = argv.map(expand);
    const cwd = c.spec.workingDir !== undefined ? expand(c.spec.workingDir) : (entry.workingDir ?? this.env.repoRoot);
    const nodeOptions = [`--import=${this.env.preloadPath}`, vars['NODE_OPTIONS'] ?? ''].join(' ').trim();
    const processEnv: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: this.podDir,
      HOSTNAME: this.pod.spec?.hostname ?? this.pod.metadata?.name ?? '',
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: String(this.env.apiserverPort),
      KVSTORE_CLUSTER_HOSTS: this.env.hostsPath,
      KVSTORE_POD_LOOPBACK_IP: this.loopbackIp,
      ...vars,
      NODE_OPTIONS: nodeOptions,
    };
    const logDir = path.join(this.podDir, c.spec.name);
    fs.mkdirSync(logDir, { recursive: true });
    const logPath = path.join(logDir, `${c.restartCount}.log`);
    const fd = fs.openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(file ?? '', args, { cwd, env: processEnv, stdio: ['ignore', fd, fd], detached: true });
    } finally {
      fs.closeSync(fd);
    }
    registerForExitCleanup(child);
    const startedAt = now();
    c.child = child;
    c.started = false;
    c.ready = false;
    c.state = { kind: 'running', startedAt };
    c.exited = new Promise<void>((resolve) => {
      let spawnFailed = false;
      child.once('error', (err) => {
        spawnFailed = true;
        fs.appendFileSync(logPath, `process-kubelet: cannot start ${file ?? ''}: ${err.message}\n`);
        c.state = { kind: 'terminated', exitCode: 128, reason: 'StartError', startedAt, finishedAt: now() };
        this.onContainerExit(c);
        resolve();
      });
      child.once('exit', (code, signal) => {
        if (spawnFailed) return;
        const exitCode = code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 0);
        c.state = {
          kind: 'terminated', exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: now(),
          ...(signal !== null ? { signal } : {}),
        };
        this.onContainerExit(c);
        resolve();
      });
    });
    this.startProbes(c);
    this.env.kick();
  }

  private onContainerExit(c: ContainerRun): void {
    for (const t of c.probeTimers) clearTimeout(t);
    c.probeTimers = [];
    c.ready = false;
    c.child = undefined;
    this.env.kick();
  }

  /** The pid of a running container's process (tests kill it to simulate a crash). */
  containerPid(container?: string): number | undefined {
    const c = container === undefined ? this.containers[0] : this.containers.find((x) => x.spec.name === container);
    return c?.child?.pid;
  }

  logPath(container?: string, previous = false): string | undefined {
    const c = container === undefined ? this.containers[0] : [...this.containers, ...this.initContainers].find((x) => x.spec.name === container);
    if (c === undefined) return undefined;
    const n = previous ? c.restartCount - 1 : c.restartCount;
    return n < 0 ? undefined : path.join(this.podDir, c.spec.name, `${n}.log`);
  }

  private startProbes(c: ContainerRun): void {
    const startup = c.spec.startupProbe;
    const readiness = c.spec.readinessProbe;
    const liveness = c.spec.livenessProbe;
    const afterStartup = (): void => {
      c.started = true;
      if (readiness === undefined) c.ready = true;
      else this.loopProbe(c, readiness, (ok) => { c.ready = ok; });
      if (liveness !== undefined) {
        this.loopProbe(c, liveness, (ok) => {
          if (!ok) {
            this.env.log(`pod ${this.name}: container ${c.spec.name} failed liveness, restarting`);
            void this.killContainer(c, liveness.terminationGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30);
          }
        });
      }
      this.env.kick();
    };
    if (startup === undefined) afterStartup();
    else this.loopProbe(c, startup, (ok, stopLoop) => {
      if (ok) {
        stopLoop();
        afterStartup();
      } else {
        void this.killContainer(c, startup.terminationGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30);
      }
    });
  }

  /** Runs a probe on its period; calls onResult when the success/failure threshold is crossed. */
  private loopProbe(c: ContainerRun, probe: V1Probe, onResult: (ok: boolean, stopLoop: () => void) => void): void {
    const child = c.child;
    let successes = 0;
    let failures = 0;
    let lastReported: boolean | undefined;
    let stopped = false;
    const stopLoop = (): void => { stopped = true; };
    const tick = async (): Promise<void> => {
      if (stopped || c.child !== child || child === undefined || this.terminating) return;
      const ok = await this.runProbe(c, probe);
      if (stopped || c.child !== child) return;
      if (ok) { successes += 1; failures = 0; } else { failures += 1; successes = 0; }
      if (ok && successes >= (probe.successThreshold ?? 1) && lastReported !== true) {
        lastReported = true;
        onResult(true, stopLoop);
        this.env.kick();
      } else if (!ok && failures >= (probe.failureThreshold ?? 3) && lastReported !== false) {
        lastReported = false;
        onResult(false, stopLoop);
        this.env.kick();
      }
      if (!stopped) c.probeTimers.push(setTimeout(() => void tick(), (probe.periodSeconds ?? 10) * 1000));
    };
    c.probeTimers.push(setTimeout(() => void tick(), (probe.initialDelaySeconds ?? 0) * 1000));
  }

  private resolvePort(c: ContainerRun, port: number | string): number {
    if (typeof port === 'number') return port;
    const named = c.spec.ports?.find((p) => p.name === port);
    return named?.containerPort ?? Number(port);
  }

  private async runProbe(c: ContainerRun, probe: V1Probe): Promise<boolean> {
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    try {
      if (probe.httpGet !== undefined) {
        const get = probe.httpGet;
        const host = toLoopback(get.host ?? this.loopbackIp);
        const port = this.resolvePort(c, get.port);
        const headers = Object.fromEntries((get.httpHeaders ?? []).map((h) => [h.name, h.value]));
        return await new Promise<boolean>((resolve) => {
          const req = http.get({ host, port, path: get.path ?? '/', headers, timeout: timeoutMs }, (res) => {
            res.resume();
            const status = res.statusCode ?? 0;
            resolve(status >= 200 && status < 400);
          });
          req.on('timeout', () => req.destroy());
          req.on('error', () => resolve(false));
        });
      }
      if (probe.tcpSocket !== undefined) {
        const host = toLoopback(probe.tcpSocket.host ?? this.loopbackIp);
        const port = this.resolvePort(c, probe.tcpSocket.port);
        return await new Promise<boolean>((resolve) => {
          const socket = net.connect({ host, port, timeout: timeoutMs }, () => { socket.destroy(); resolve(true); });
          socket.on('timeout', () => { socket.destroy(); resolve(false); });
          socket.on('error', () => resolve(false));
        });
      }
      if (probe.exec?.command !== undefined) {
        const [file, ...args] = probe.exec.command;
        const mounts = this.mounts(c.spec);
        const vars = await this.containerEnv(c.spec, mounts, {});
        return await new Promise<boolean>((resolve) => {
          const p = spawn(file ?? '', args.map((a) => substituteMounts(a, mounts)), {
            cwd: this.env.repoRoot, stdio: 'ignore', timeout: timeoutMs,
            env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', KVSTORE_CLUSTER_HOSTS: this.env.hostsPath, ...vars },
          });
          p.on('error', () => resolve(false));
          p.on('exit', (code) => resolve(code === 0));
        });
      }
    } catch {
      return false;
    }
    return true;
  }

  /** SIGTERM to the container's process group, SIGKILL after graceSeconds. */
  private async killContainer(c: ContainerRun, graceSeconds: number): Promise<void> {
    const child = c.child;
    if (child?.pid === undefined) return;
    const signalGroup = (sig: NodeJS.Signals): void => {
      try { process.kill(-(child.pid ?? 0), sig); } catch { /* gone */ }
    };
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), Math.max(0, graceSeconds) * 1000);
    await c.exited;
    clearTimeout(timer);
    signalGroup('SIGKILL'); // leftovers the container forked
  }

  /** Graceful pod shutdown (idempotent). Resolves when every container process is gone. */
  async terminate(graceSeconds: number): Promise<void> {
    if (this.finished !== undefined) return this.finished;
    this.terminating = true;
    for (const t of this.backoffTimers) clearTimeout(t);
    this.backoffTimers.clear();
    this.finished = (async () => {
      await Promise.all([...this.initContainers, ...this.containers].map((c) => this.killContainer(c, graceSeconds)));
      for (const c of [...this.initContainers, ...this.containers]) {
        if (c.state.kind === 'waiting') {
          c.state = { kind: 'terminated', exitCode: 0, reason: 'Completed', startedAt: now(), finishedAt: now() };
        }
      }
      this.stoppedFlag = true;
      this.env.kick();
    })();
    return this.finished;
  }

  private containerStatus(c: ContainerRun): Record<string, unknown> {
    const state = (s: ContainerState): Record<string, unknown> => {
      switch (s.kind) {
        case 'waiting': return { waiting: { reason: s.reason, ...(s.message !== undefined ? { message: s.message } : {}) } };
        case 'running': return { running: { startedAt: s.startedAt } };
        case 'terminated': return {
          terminated: {
            exitCode: s.exitCode, reason: s.reason, startedAt: s.startedAt, finishedAt: s.finishedAt,
            ...(s.signal !== undefined ? { signal: SIGNAL_NUMBERS[s.signal] ?? 0 } : {}),
          },
        };
      }
    };
    return {
      name: c.spec.name,
      image: c.spec.image ?? '',
      imageID: `process-kubelet://${c.spec.image ?? ''}`,
      containerID: c.child?.pid !== undefined ? `process://${c.child.pid}` : undefined,
      ready: c.ready,
      started: c.started,
      restartCount: c.restartCount,
      state: state(c.state),
      lastState: c.lastTerminated !== undefined ? state(c.lastTerminated) : {},
    };
  }

  /** The pod status as the kubelet would report it; conditions carry no timestamps (the caller adds them). */
  status(): { phase: string; conditions: { type: string; status: string; reason?: string }[]; body: Record<string, unknown> } {
    const all = this.containers;
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    const terminatedFor = (c: ContainerRun): boolean => c.state.kind === 'terminated' &&
      (this.terminating || policy === 'Never' || (policy === 'OnFailure' && c.state.exitCode === 0));
    let phase = 'Pending';
    if (this.failedInit) phase = 'Failed';
    else if (this.initialized && all.length > 0 && all.every(terminatedFor)) {
      phase = all.every((c) => c.state.kind === 'terminated' && c.state.exitCode === 0) ? 'Succeeded' : 'Failed';
    } else if (this.initialized && all.some((c) => c.state.kind === 'running' || c.restartCount > 0)) phase = 'Running';
    const containersReady = all.length > 0 && all.every((c) => c.ready);
    const cond = (type: string, ok: boolean, reason?: string): { type: string; status: string; reason?: string } =>
      ({ type, status: ok ? 'True' : 'False', ...(ok || reason === undefined ? {} : { reason }) });
    const conditions = [
      cond('PodReadyToStartContainers', this.volumes !== undefined),
      cond('Initialized', this.initialized, 'ContainersNotInitialized'),
      cond('ContainersReady', containersReady, 'ContainersNotReady'),
      cond('Ready', containersReady && !this.terminating, 'ContainersNotReady'),
    ];
    const body: Record<string, unknown> = {
      phase,
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: this.podIp,
      podIPs: [{ ip: this.podIp }],
      startTime: this.startTime,
      containerStatuses: this.containers.map((c) => this.containerStatus(c)),
      ...(this.initContainers.length > 0 ? { initContainerStatuses: this.initContainers.map((c) => this.containerStatus(c)) } : {}),
    };
    return { phase, conditions, body };
  }
}
