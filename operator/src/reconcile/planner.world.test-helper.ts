// A tiny model of "the world" the planner acts on (StatefulSet, pods, PVCs, Raft membership),
// used by the planner tests to apply steps and check that the plan converges safely.
import type { DataState, ObservedPod, PlanInput, RaftMember, Step } from './planner.ts';
import { memberName } from './planner.ts';

export interface WorldPvc {
  /** Identity of the volume: a new PVC gets a new serial, so reuse is detectable. */
  serial: number;
  data: 'empty' | 'cluster';
  markedRemoved: boolean;
}

export interface WorldPod {
  ready: boolean;
  terminating: boolean;
  configHash: string;
  pvcSerial: number;
}

export class World {
  cluster = 'demo';
  desired: number;
  hash = 'h1';
  policy: 'Delete' | 'Retain';
  bootstrapped = false;
  sts: number | null = null;
  pods = new Map<number, WorldPod>();
  pvcs = new Map<number, WorldPvc>();
  members = new Map<string, RaftMember>();
  leader: string | null = null;
  commitIndex = 100;
  private serial = 0;
  log: Step[] = [];

  constructor(desired: number, policy: 'Delete' | 'Retain' = 'Delete') {
    this.desired = desired;
    this.policy = policy;
  }

  name(o: number): string {
    return memberName(this.cluster, o);
  }

  input(): PlanInput {
    const pods: ObservedPod[] = [...this.pods].map(([ordinal, p]) => ({
      ordinal,
      ready: p.ready,
      terminating: p.terminating,
      configHash: p.configHash,
      dataState: this.dataStateOf(ordinal),
    }));
    return {
      clusterName: this.cluster,
      desiredReplicas: this.desired,
      desiredConfigHash: this.hash,
      onMemberRemoval: this.policy,
      bootstrapped: this.bootstrapped,
      statefulSetReplicas: this.sts,
      pods,
      pvcs: [...this.pvcs].map(([ordinal, p]) => ({ ordinal, markedRemoved: p.markedRemoved })),
      raft:
        this.leader === null
          ? null
          : {
              leader: this.leader,
              commitIndex: this.commitIndex,
              members: [...this.members.values()].map((m) => ({ ...m })),
            },
      operation: null,
    };
  }

  private dataStateOf(o: number): DataState {
    const pod = this.pods.get(o);
    if (pod === undefined) return 'unknown';
    const pvc = [...this.pvcs.values()].find((p) => p.serial === pod.pvcSerial);
    return pvc?.data === 'cluster' ? 'cluster' : 'empty';
  }

  private createPod(o: number): void {
    let pvc = this.pvcs.get(o);
    if (pvc === undefined) {
      pvc = { serial: ++this.serial, data: 'empty', markedRemoved: false };
      this.pvcs.set(o, pvc);
    }
    this.pods.set(o, { ready: false, terminating: false, configHash: this.hash, pvcSerial: pvc.serial });
    if (o === 0 && !this.bootstrapped) {
      pvc.data = 'cluster';
      this.bootstrapped = true;
      this.members.set(this.name(0), {
        id: this.name(0),
        role: 'voter',
        healthy: true,
        matchIndex: this.commitIndex,
      });
      this.leader = this.name(0);
    }
  }

  /** What Kubernetes and Raft do by themselves between two operator steps. */
  settle(): void {
    for (const [o, pod] of [...this.pods]) if (pod.terminating || o >= (this.sts ?? 0)) this.pods.delete(o);
    for (let o = 0; o < (this.sts ?? 0); o++) if (!this.pods.has(o)) this.createPod(o);
    for (const [o, pod] of this.pods) {
      const m = this.members.get(this.name(o));
      const pvc = this.pvcs.get(o);
      // A joining learner receives the cluster state; a voter whose volume was wiped does not
      // (in Raft it must not silently come back: it may have forgotten a vote).
      if (m !== undefined && pvc !== undefined && (m.role === 'learner' || pvc.data === 'cluster')) {
        pvc.data = 'cluster';
        m.healthy = true;
        m.matchIndex = this.commitIndex;
        pod.ready = this.leader !== null;
      } else {
        pod.ready = false;
        if (m !== undefined) m.healthy = false;
      }
    }
    for (const m of this.members.values()) if (!this.pods.has(Number(m.id.split('-')[1]))) m.healthy = false;
  }

  apply(step: Step): void {
    this.log.push(step);
    this.commitIndex += 1;
    switch (step.kind) {
      case 'raise-statefulset':
      case 'lower-statefulset':
        this.sts = step.replicas;
        break;
      case 'add-learner':
        this.members.set(step.member, { id: step.member, role: 'learner', healthy: false });
        break;
      case 'promote':
        this.members.get(step.member)!.role = 'voter';
        break;
      case 'transfer-leadership':
        this.leader = step.to;
        break;
      case 'remove-member':
        this.members.delete(step.member);
        break;
      case 'replace-member': {
        const o = Number(step.member.split('-')[1]);
        this.members.delete(step.member);
        this.pvcs.delete(o);
        this.pods.delete(o);
        break;
      }
      case 'delete-pvc':
        this.pvcs.delete(step.ordinal);
        if (step.deletePod) this.pods.delete(step.ordinal);
        break;
      case 'mark-pvc-removed':
        this.pvcs.get(step.ordinal)!.markedRemoved = true;
        break;
      case 'roll-pod': {
        const o = Number(step.member.split('-')[1]);
        this.pods.get(o)!.terminating = true;
        break;
      }
      case 'nothing':
      case 'wait':
      case 'refuse':
        break;
    }
    this.settle();
  }
}
