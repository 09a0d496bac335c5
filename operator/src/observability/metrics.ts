// The operator's one metrics registry (prefix kvstore_operator_; the process and Node.js metrics
// keep their standard names). No label is called `namespace` or `cluster`: Prometheus would rename
// a `namespace` label to `exported_namespace` when the scrape adds the operator pod's own.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'kvstore_operator_reconciles_total',
    help: 'Reconciles by result (success, requeue, error).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'kvstore_operator_reconcile_duration_seconds',
    help: 'Duration of one reconcile.',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'kvstore_operator_queue_depth',
    help: 'Keys waiting in the work queue.',
    registers: [this.registry],
  });
  readonly managedClusters = new Gauge({
    name: 'kvstore_operator_managed_clusters',
    help: 'KVClusters known to this operator.',
    registers: [this.registry],
  });
  readonly members = new Gauge({
    name: 'kvstore_operator_members',
    help: 'Members of each KVCluster (kvcluster_namespace/kvcluster) by Raft role (voter, learner, none).',
    labelNames: ['kvcluster_namespace', 'kvcluster', 'role'] as const,
    registers: [this.registry],
  });
  readonly membershipOperations = new Counter({
    name: 'kvstore_operator_membership_operations_total',
    help: 'Membership operations (planner steps carried out) by kind and result.',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: 'kvstore_operator_is_leader',
    help: '1 when this replica holds the leader Lease.',
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }

  setMembers(namespace: string, cluster: string, counts: Record<'voter' | 'learner' | 'none', number>): void {
    for (const role of ['voter', 'learner', 'none'] as const)
      this.members.set({ kvcluster_namespace: namespace, kvcluster: cluster, role }, counts[role]);
  }

  forgetCluster(namespace: string, cluster: string): void {
    for (const role of ['voter', 'learner', 'none'] as const)
      this.members.remove({ kvcluster_namespace: namespace, kvcluster: cluster, role });
  }
}
