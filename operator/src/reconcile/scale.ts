// Executes membership steps (scale-up, scale-down, replacement) against the node admin API and
// the Kubernetes API. Each call does exactly the one change the planner chose.
import type { KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';
import type { Kube } from '../kube/kube.ts';
import { NODE_PORT, PEER_PORT, REMOVED_LABEL, names, ownerReference } from '../specs/names.ts';
import type { NodeAdmin } from './nodeclient.ts';
import type { Step } from './planner.ts';
import { applyStatefulSet } from './create.ts';

export interface StepContext {
  kube: Kube;
  node: NodeAdmin;
  kv: KVCluster;
  /** Base URL of the leader's admin API, when there is a leader. */
  leaderUrl: string | null;
  bootstrapped: boolean;
}

function needLeader(ctx: StepContext): string {
  if (ctx.leaderUrl === null) throw new Error('no leader address to send a membership change to');
  return ctx.leaderUrl;
}

export type MembershipStep = Extract<
  Step,
  {
    kind:
      | 'raise-statefulset'
      | 'lower-statefulset'
      | 'add-learner'
      | 'promote'
      | 'transfer-leadership'
      | 'remove-member'
      | 'replace-member'
      | 'delete-pvc'
      | 'mark-pvc-removed'
      | 'demote'
      | 'hibernate';
  }
>;

export async function executeMembershipStep(ctx: StepContext, step: MembershipStep): Promise<void> {
  const { kube, node, kv } = ctx;
  const n = names(kv);
  const ns = kv.metadata.namespace;
  switch (step.kind) {
    case 'raise-statefulset':
    case 'lower-statefulset':
      await applyStatefulSet(kube, kv, step.replicas, ctx.bootstrapped);
      return;
    case 'add-learner': {
      // With TLS: peer traffic (mutual TLS) on its own port, the client API over HTTPS.
      const tls = withDefaults(kv.spec).tls.enabled;
      const host = n.memberHost(step.ordinal);
      await node.addMember(needLeader(ctx), {
        id: step.member,
        peerUrl: tls ? `https://${host}:${PEER_PORT}` : `http://${host}:${NODE_PORT}`,
        clientUrl: tls ? `https://${host}:${NODE_PORT}` : `http://${host}:${NODE_PORT}`,
        role: 'learner',
      });
      return;
    }
    case 'promote':
      await node.promote(needLeader(ctx), step.member);
      return;
    case 'demote':
      await node.demote(needLeader(ctx), step.member);
      return;
    case 'hibernate':
      // Every pod stops at once (Parallel pod management), as a whole-cluster shutdown: each
      // member has fsynced what it acknowledged, and membership stays as it is in Raft.
      await applyStatefulSet(kube, kv, 0, ctx.bootstrapped);
      return;
    case 'transfer-leadership':
      await node.transferLeadership(needLeader(ctx), step.to);
      return;
    case 'remove-member':
      await node.removeMember(needLeader(ctx), step.member);
      return;
    case 'replace-member': {
      // Its data is gone or foreign, so nothing of value is on the volume. Remove it from Raft,
      // then restart it from a fresh volume: a node that saw its own removal refuses to rejoin
      // with that state, and the planner adds the empty pod back as a learner.
      const ordinal = Number(step.member.slice(kv.metadata.name.length + 1));
      await node.removeMember(needLeader(ctx), step.member);
      await kube.delete('v1', 'PersistentVolumeClaim', ns, n.pvc(ordinal));
      await kube.delete('v1', 'Pod', ns, step.member);
      return;
    }
    case 'delete-pvc':
      if (step.deletePod) await kube.delete('v1', 'Pod', ns, step.member);
      await kube.delete('v1', 'PersistentVolumeClaim', ns, n.pvc(step.ordinal));
      return;
    case 'mark-pvc-removed': {
      // Kept for inspection; owned by the KVCluster when the cluster's PVCs go with it, so
      // garbage collection removes it then (no finalizer needed).
      const deleteWithCluster = withDefaults(kv.spec).storage.onClusterDeletion === 'Delete';
      await kube.mergePatch('v1', 'PersistentVolumeClaim', ns, n.pvc(step.ordinal), {
        metadata: {
          labels: { [REMOVED_LABEL]: 'true' },
          ...(deleteWithCluster ? { ownerReferences: [{ ...ownerReference(kv), controller: false }] } : {}),
        },
      });
      return;
    }
  }
}
