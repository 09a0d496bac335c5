// One pod of the process-kubelet: its containers as local process groups, probes, restarts,
// graceful termination and the pod status the kubelet reports (docs/adr/0030).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { registerForExitCleanup } from './control-plane.ts';
import { resolveImage, type ImageEntry, type ImageMap } from './image-map.ts';
import { containerArgv, containerEnv, expandVars, substituteMounts, type Mount } from './container-env.ts';
import { ContainerRun, now, podStatus, SIGNAL_NUMBERS, type PodStatusReport } from './pod-status.ts';
import { runProbe } from './probes.ts';

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
  readKey(
    kind: 'configMap' | 'secret',
    namespace: string,
    name: string,
  ): Promise<Record<string, string> | undefined>;
  /** Something changed that the API should hear about. */
  kick(): void;
  log(message: string): void;
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

  /** True once the pod's volumes were prepared (they may then be refreshed in place). */
  get started(): boolean {
    return this.volumes !== undefined;
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

  private mounts(c: V1Container): Mount[] {
    const out: Mount[] = [];
    for (const vm of c.volumeMounts ?? []) {
      const base = this.volumes?.get(vm.name);
      if (base === undefined) continue;
      const localPath = vm.subPath !== undefined && vm.subPath !== '' ? path.join(base, vm.subPath) : base;
      fs.mkdirSync(localPath, { recursive: true });
      out.push({ name: vm.name, mountPath: vm.mountPath, localPath });
    }
    return out;
  }

  private async containerEnv(
    c: V1Container,
    mounts: readonly Mount[],
    imageEnv: Readonly<Record<string, string>>,
  ): Promise<Record<string, string>> {
    const readKey = (
      kind: 'configMap' | 'secret',
      namespace: string,
      name: string,
    ): Promise<Record<string, string> | undefined> => this.env.readKey(kind, namespace, name);
    return containerEnv({ pod: this.pod, podIp: this.podIp, readKey }, c, mounts, imageEnv);
  }

  private async startContainer(c: ContainerRun): Promise<void> {
    const image = c.spec.image ?? '';
    let entry: ImageEntry | undefined;
    let vars: Record<string, string> | undefined;
    let mounts: Mount[] = [];
    // Like the real kubelet, an unknown image or a missing configMap/secret key leaves the container
    // waiting (no restart counted) and is retried until it resolves or the pod goes away.
    while (!this.terminating) {
      entry = resolveImage(this.env.imageMap, image);
      if (entry === undefined) {
        this.setWaiting(c, 'ErrImagePull', `image ${image} is not in the process-kubelet image map`);
        await this.delay(5000);
        continue;
      }
      mounts = this.mounts(c.spec);
      try {
        vars = await this.containerEnv(c.spec, mounts, entry.env ?? {});
        break;
      } catch (err) {
        this.setWaiting(c, 'CreateContainerConfigError', String(err));
        await this.delay(2000);
      }
    }
    if (entry === undefined || vars === undefined) {
      c.exited = Promise.resolve();
      return;
    }
    const resolvedVars = vars;
    const expand = (v: string): string => substituteMounts(expandVars(v, resolvedVars), mounts);
    const [file, ...args] = containerArgv(entry, c.spec, expand);
    const cwd =
      c.spec.workingDir !== undefined ? expand(c.spec.workingDir) : (entry.workingDir ?? this.env.repoRoot);
    const nodeOptions = [`--import=${this.env.preloadPath}`, resolvedVars['NODE_OPTIONS'] ?? '']
      .join(' ')
      .trim();
    const processEnv: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: this.podDir,
      HOSTNAME: this.pod.spec?.hostname ?? this.pod.metadata?.name ?? '',
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: String(this.env.apiserverPort),
      KVSTORE_CLUSTER_HOSTS: this.env.hostsPath,
      KVSTORE_POD_LOOPBACK_IP: this.loopbackIp,
      ...this.serviceAccountKubeconfig(),
      ...resolvedVars,
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
          kind: 'terminated',
          exitCode,
          reason: exitCode === 0 ? 'Completed' : 'Error',
          startedAt,
          finishedAt: now(),
          ...(signal !== null ? { signal } : {}),
        };
        this.onContainerExit(c);
        resolve();
      });
    });
    this.startProbes(c);
    this.env.kick();
  }

  /**
   * In-cluster config reads fixed paths under /var/run/secrets, which a process here cannot see, so a
   * pod with a mounted service-account token gets KUBECONFIG instead: same server, CA and token, so
   * it talks to the API as its ServiceAccount, under RBAC.
   */
  private serviceAccountKubeconfig(): Record<string, string> {
    for (const v of this.pod.spec?.volumes ?? []) {
      const tokenSource = v.projected?.sources?.find((src) => src.serviceAccountToken !== undefined);
      const dir = this.volumes?.get(v.name);
      if (tokenSource?.serviceAccountToken === undefined || dir === undefined) continue;
      const tokenFile = path.join(dir, tokenSource.serviceAccountToken.path);
      const caFile = path.join(dir, 'ca.crt');
      if (!fs.existsSync(tokenFile) || !fs.existsSync(caFile)) continue;
      const file = path.join(this.podDir, 'serviceaccount.kubeconfig');
      const ca = fs.readFileSync(caFile).toString('base64');
      const token = fs.readFileSync(tokenFile, 'utf8').trim();
      fs.writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          `- name: in-cluster`,
          `  cluster: { server: 'https://127.0.0.1:${this.env.apiserverPort}', certificate-authority-data: ${ca} }`,
          'users:',
          `- name: serviceaccount`,
          `  user: { token: ${token} }`,
          'contexts:',
          `- name: in-cluster`,
          `  context: { cluster: in-cluster, user: serviceaccount, namespace: ${this.pod.metadata?.namespace ?? 'default'} }`,
          'current-context: in-cluster',
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      return { KUBECONFIG: file };
    }
    return {};
  }

  private setWaiting(c: ContainerRun, reason: string, message: string): void {
    const changed = c.state.kind !== 'waiting' || c.state.reason !== reason || c.state.message !== message;
    c.state = { kind: 'waiting', reason, message };
    if (changed) this.env.kick();
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
    const c =
      container === undefined ? this.containers[0] : this.containers.find((x) => x.spec.name === container);
    return c?.child?.pid;
  }

  logPath(container?: string, previous = false): string | undefined {
    const c =
      container === undefined
        ? this.containers[0]
        : [...this.containers, ...this.initContainers].find((x) => x.spec.name === container);
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
      else
        this.loopProbe(c, readiness, (ok) => {
          c.ready = ok;
        });
      if (liveness !== undefined) {
        this.loopProbe(c, liveness, (ok) => {
          if (!ok) {
            this.env.log(`pod ${this.name}: container ${c.spec.name} failed liveness, restarting`);
            void this.killContainer(
              c,
              liveness.terminationGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30,
            );
          }
        });
      }
      this.env.kick();
    };
    if (startup === undefined) afterStartup();
    else
      this.loopProbe(c, startup, (ok, stopLoop) => {
        if (ok) {
          stopLoop();
          afterStartup();
        } else {
          void this.killContainer(
            c,
            startup.terminationGracePeriodSeconds ?? this.pod.spec?.terminationGracePeriodSeconds ?? 30,
          );
        }
      });
  }

  /** Runs a probe on its period; calls onResult when the success/failure threshold is crossed. */
  private loopProbe(
    c: ContainerRun,
    probe: V1Probe,
    onResult: (ok: boolean, stopLoop: () => void) => void,
  ): void {
    const child = c.child;
    let successes = 0;
    let failures = 0;
    let lastReported: boolean | undefined;
    let stopped = false;
    const stopLoop = (): void => {
      stopped = true;
    };
    const tick = async (): Promise<void> => {
      if (stopped || c.child !== child || child === undefined || this.terminating) return;
      const ok = await this.runProbe(c, probe);
      if (stopped || c.child !== child) return;
      if (ok) {
        successes += 1;
        failures = 0;
      } else {
        failures += 1;
        successes = 0;
      }
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

  private async runProbe(c: ContainerRun, probe: V1Probe): Promise<boolean> {
    const mounts = this.mounts(c.spec);
    return runProbe(probe, {
      loopbackIp: this.loopbackIp,
      ports: c.spec.ports ?? [],
      cwd: this.env.repoRoot,
      rewriteArg: (a) => substituteMounts(a, mounts),
      execEnv: async () => ({
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        KVSTORE_CLUSTER_HOSTS: this.env.hostsPath,
        ...(await this.containerEnv(c.spec, mounts, {})),
      }),
    });
  }

  /** SIGTERM to the container's process group, SIGKILL after graceSeconds. */
  private async killContainer(c: ContainerRun, graceSeconds: number): Promise<void> {
    const child = c.child;
    if (child?.pid === undefined) return;
    const signalGroup = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-(child.pid ?? 0), sig);
      } catch {
        /* gone */
      }
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
      await Promise.all(
        [...this.initContainers, ...this.containers].map((c) => this.killContainer(c, graceSeconds)),
      );
      for (const c of [...this.initContainers, ...this.containers]) {
        if (c.state.kind === 'waiting') {
          c.state = {
            kind: 'terminated',
            exitCode: 0,
            reason: 'Completed',
            startedAt: now(),
            finishedAt: now(),
          };
        }
      }
      this.stoppedFlag = true;
      this.env.kick();
    })();
    return this.finished;
  }

  /** The pod status as the kubelet would report it; conditions carry no timestamps (the caller adds them). */
  status(): PodStatusReport {
    return podStatus({
      pod: this.pod,
      podIp: this.podIp,
      startTime: this.startTime,
      initContainers: this.initContainers,
      containers: this.containers,
      volumesReady: this.volumes !== undefined,
      initialized: this.initialized,
      terminating: this.terminating,
      failedInit: this.failedInit,
    });
  }
}
