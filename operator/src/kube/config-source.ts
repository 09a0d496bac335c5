// Where the operator's cluster credentials come from, decided before any client is built, so
// that an operator started outside a cluster without a kubeconfig says so and exits instead of
// retrying against a default localhost API forever.
export type ConfigSource =
  | { kind: 'service-account'; dir: string; host: string }
  | { kind: 'kubeconfig'; path: string }
  | { kind: 'none'; message: string };

export interface ConfigEnv {
  KUBE_SA_DIR?: string | undefined;
  KUBERNETES_SERVICE_HOST?: string | undefined;
  KUBECONFIG?: string | undefined;
  HOME?: string | undefined;
}

export const DEFAULT_SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export function configSource(env: ConfigEnv, exists: (path: string) => boolean): ConfigSource {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (env.KUBECONFIG === undefined && host !== undefined && host !== '') {
    const dir = env.KUBE_SA_DIR !== undefined && env.KUBE_SA_DIR !== '' ? env.KUBE_SA_DIR : DEFAULT_SA_DIR;
    if (exists(`${dir}/token`)) return { kind: 'service-account', dir, host };
    return {
      kind: 'none',
      message: `running in a pod (KUBERNETES_SERVICE_HOST is set) but ${dir}/token does not exist: is the ServiceAccount token mounted?`,
    };
  }
  // KUBECONFIG may list several files; the client merges them. One existing file is enough.
  const listed = (env.KUBECONFIG ?? '').split(':').filter((p) => p !== '');
  for (const p of listed) if (exists(p)) return { kind: 'kubeconfig', path: env.KUBECONFIG! };
  if (listed.length > 0)
    return { kind: 'none', message: `KUBECONFIG names no existing file (${env.KUBECONFIG})` };
  const home = env.HOME !== undefined && env.HOME !== '' ? `${env.HOME}/.kube/config` : undefined;
  if (home !== undefined && exists(home)) return { kind: 'kubeconfig', path: home };
  return {
    kind: 'none',
    message:
      'no Kubernetes configuration found: set KUBECONFIG, create ~/.kube/config, or run the operator in a pod with a ServiceAccount',
  };
}

export const OPERATOR_USAGE = `usage: kv-store-operator [--help]

Reconciles KVCluster resources (kvstore.io/v1alpha1) into kv-store members. Configured through
environment variables:
  KUBECONFIG        kubeconfig file(s); default ~/.kube/config, or the pod's ServiceAccount in a cluster
  WATCH_NAMESPACE   namespace to watch (default: all)
  POD_NAME, POD_NAMESPACE / LEASE_NAMESPACE, LEASE_NAME
                    leader-election Lease identity and location (default kv-store-operator in default)
  HTTP_HOST, HTTP_PORT  /healthz, /readyz and /metrics (default 0.0.0.0:8081)
  WORKERS           concurrent reconciles (default 2)
  LOG_LEVEL         debug, info, warn, error (default info)
`;
