// Container run state and the pod status the process-kubelet reports from it.
import type { ChildProcess } from 'node:child_process';
import type { V1Container, V1Pod } from '@kubernetes/client-node';

export interface PodStatusReport {
  phase: string;
  conditions: { type: string; status: string; reason?: string }[];
  body: Record<string, unknown>;
}

export interface PodSnapshot {
  readonly pod: V1Pod;
  readonly podIp: string;
  readonly startTime: string;
  readonly initContainers: readonly ContainerRun[];
  readonly containers: readonly ContainerRun[];
  readonly volumesReady: boolean;
  readonly initialized: boolean;
  readonly terminating: boolean;
  readonly failedInit: boolean;
}

export type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string }
  | {
      kind: 'terminated';
      exitCode: number;
      signal?: string;
      reason: string;
      startedAt: string;
      finishedAt: string;
    };

export class ContainerRun {
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

export const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGTERM: 15,
};

export function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export function containerStatus(c: ContainerRun): Record<string, unknown> {
  const state = (s: ContainerState): Record<string, unknown> => {
    switch (s.kind) {
      case 'waiting':
        return {
          waiting: { reason: s.reason, ...(s.message !== undefined ? { message: s.message } : {}) },
        };
      case 'running':
        return { running: { startedAt: s.startedAt } };
      case 'terminated':
        return {
          terminated: {
            exitCode: s.exitCode,
            reason: s.reason,
            startedAt: s.startedAt,
            finishedAt: s.finishedAt,
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
export function podStatus(p: PodSnapshot): PodStatusReport {
  const all = p.containers;
  const policy = p.pod.spec?.restartPolicy ?? 'Always';
  const terminatedFor = (c: ContainerRun): boolean =>
    c.state.kind === 'terminated' &&
    (p.terminating || policy === 'Never' || (policy === 'OnFailure' && c.state.exitCode === 0));
  let phase = 'Pending';
  if (p.failedInit) phase = 'Failed';
  else if (p.initialized && all.length > 0 && all.every(terminatedFor)) {
    phase = all.every((c) => c.state.kind === 'terminated' && c.state.exitCode === 0)
      ? 'Succeeded'
      : 'Failed';
  } else if (p.initialized && all.some((c) => c.state.kind === 'running' || c.restartCount > 0))
    phase = 'Running';
  const containersReady = all.length > 0 && all.every((c) => c.ready);
  const cond = (
    type: string,
    ok: boolean,
    reason?: string,
  ): { type: string; status: string; reason?: string } => ({
    type,
    status: ok ? 'True' : 'False',
    ...(ok || reason === undefined ? {} : { reason }),
  });
  const conditions = [
    cond('PodReadyToStartContainers', p.volumesReady),
    cond('Initialized', p.initialized, 'ContainersNotInitialized'),
    cond('ContainersReady', containersReady, 'ContainersNotReady'),
    cond('Ready', containersReady && !p.terminating, 'ContainersNotReady'),
  ];
  const body: Record<string, unknown> = {
    phase,
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    podIP: p.podIp,
    podIPs: [{ ip: p.podIp }],
    startTime: p.startTime,
    containerStatuses: p.containers.map(containerStatus),
    ...(p.initContainers.length > 0 ? { initContainerStatuses: p.initContainers.map(containerStatus) } : {}),
  };
  return { phase, conditions, body };
}
