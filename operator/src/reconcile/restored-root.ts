// A cluster created from an archive (spec.bootstrap.recovery) holds its source's users, roles and
// token key: root's password is the source's. The operator takes it from the Secret the recovery
// names (the source's `<name>-root`) when it first writes this cluster's root Secret, so it can
// log in; the declared users are then applied as for any cluster.
import type { V1Secret } from '@kubernetes/client-node';
import type { Kube } from '../kube/kube.ts';
import { ROOT_PASSWORD_KEY, decodeSecret } from '../specs/secrets.ts';
import type { KVCluster } from '../types.ts';
import { withDefaults } from '../types.ts';

/** The source's root password, or null (no recovery, no rootSecret, or no usable password in it). */
export async function recoveredRootPassword(kube: Kube, kv: KVCluster): Promise<string | null> {
  const name = withDefaults(kv.spec).bootstrap?.recovery?.rootSecret;
  if (name === undefined) return null;
  const data = decodeSecret(await kube.get<V1Secret>('v1', 'Secret', kv.metadata.namespace, name));
  const pw = data?.[ROOT_PASSWORD_KEY];
  if (pw === undefined || pw.length < 8)
    throw new Error(`Secret ${name} (spec.bootstrap.recovery.rootSecret) has no usable ${ROOT_PASSWORD_KEY}`);
  return pw;
}
