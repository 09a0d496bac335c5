// The Secrets of a secure cluster (issue 14, ADR 0069). Contents come from certs/cluster-pki.ts
// and reconcile/auth.ts; these builders only give them names, labels, owners and encoding.
import type { V1Secret } from '@kubernetes/client-node';
import type { KVCluster } from '../types.ts';
import { BUNDLE_KEY } from '../certs/cluster-pki.ts';
import { names, objectMeta } from './names.ts';

export const ROOT_USERNAME_KEY = 'username';
export const ROOT_PASSWORD_KEY = 'password';

function encode(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(data)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
  );
}

export function decodeSecret(secret: V1Secret | null): Record<string, string> | null {
  if (secret === null) return null;
  return Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

function secret(
  kv: KVCluster,
  name: string,
  component: string,
  data: Record<string, string>,
  annotations: Record<string, string> = {},
): V1Secret {
  const meta = objectMeta(kv, name, { 'app.kubernetes.io/component': component });
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: Object.keys(annotations).length > 0 ? { ...meta, annotations } : meta,
    type: 'Opaque',
    data: encode(data),
  };
}

/** The signing CA and, during a rotation, the pending or previous CA. Only the operator reads it. */
export function buildCaSecret(
  kv: KVCluster,
  data: Record<string, string>,
  annotations: Record<string, string>,
): V1Secret {
  return secret(kv, names(kv).caSecret, 'ca', data, annotations);
}

/** Mounted by the members: the trust bundle and each member's certificate and key. */
export function buildTlsSecret(kv: KVCluster, data: Record<string, string>): V1Secret {
  return secret(kv, names(kv).tlsSecret, 'tls', data);
}

/** What clients need to verify the members: the trust bundle, nothing private. */
export function buildCaBundleSecret(kv: KVCluster, bundle: string): V1Secret {
  return secret(kv, names(kv).caBundleSecret, 'ca-bundle', { [BUNDLE_KEY]: bundle });
}

/** root's credentials, generated once; the operator logs in with them. */
export function buildRootSecret(kv: KVCluster, password: string): V1Secret {
  return secret(kv, names(kv).rootSecret, 'credentials', {
    [ROOT_USERNAME_KEY]: 'root',
    [ROOT_PASSWORD_KEY]: password,
  });
}
