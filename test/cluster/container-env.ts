// How a container's environment and arguments are made for the process-kubelet, including the
// volume-mount convention (docs/adr/0030): KVSTORE_MOUNT_<NAME> and mountPath rewriting.
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';

export interface Mount {
  readonly name: string;
  readonly mountPath: string;
  readonly localPath: string;
}

export interface EnvContext {
  readonly pod: V1Pod;
  readonly podIp: string;
  readKey(
    kind: 'configMap' | 'secret',
    namespace: string,
    name: string,
  ): Promise<Record<string, string> | undefined>;
}

/** Kubernetes $(VAR) expansion: $$ escapes, unknown references stay as written. */
export function expandVars(value: string, vars: Readonly<Record<string, string>>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && Object.hasOwn(vars, name) ? (vars[name] ?? '') : match;
  });
}

/** Replaces a mountPath (at a path boundary) with its local directory, so `--data=/data/x` works. */
export function substituteMounts(
  value: string,
  mounts: readonly Pick<Mount, 'mountPath' | 'localPath'>[],
): string {
  let out = value;
  // Longest mount path first so /data/wal wins over /data.
  for (const m of [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length)) {
    const mp = m.mountPath.replace(/\/+$/, '');
    if (mp === '') continue;
    const escaped = mp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out = out.replace(
      new RegExp(`(^|[=:,\\s])${escaped}(?=$|/|[\\s,:;])`, 'g'),
      (_m, lead: string) => `${lead}${m.localPath}`,
    );
  }
  return out;
}

/** KVSTORE_MOUNT_<VOLUME_MOUNT_NAME>: the volumeMount's name upper-cased, non-alphanumerics as _. */
export function mountEnvName(volumeMountName: string): string {
  return `KVSTORE_MOUNT_${volumeMountName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

function fieldValue(ctx: EnvContext, fieldPath: string): string {
  const meta = ctx.pod.metadata ?? {};
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (labelOrAnnotation !== null) {
    const bag = labelOrAnnotation[1] === 'labels' ? meta.labels : meta.annotations;
    return bag?.[labelOrAnnotation[2] ?? ''] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'spec.nodeName':
      return ctx.pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return ctx.pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return ctx.podIp;
    case 'status.hostIP':
    case 'status.hostIPs':
      return '127.0.0.1';
    default:
      return '';
  }
}

/**
 * A container's environment: image env, envFrom, env (values with $(VAR) expansion, downward API
 * fieldRefs, resourceFieldRefs, configMap/secret keys), then KVSTORE_MOUNT_<NAME> per volumeMount;
 * mountPaths inside values are rewritten to their local directories.
 */
export async function containerEnv(
  ctx: EnvContext,
  c: V1Container,
  mounts: readonly Mount[],
  imageEnv: Readonly<Record<string, string>>,
): Promise<Record<string, string>> {
  const namespace = ctx.pod.metadata?.namespace ?? 'default';
  const vars: Record<string, string> = { ...imageEnv };
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (ref?.name === undefined) continue;
    const values = await ctx.readKey(
      from.configMapRef !== undefined ? 'configMap' : 'secret',
      namespace,
      ref.name,
    );
    if (values === undefined && ref.optional !== true) throw new Error(`envFrom ${ref.name} not found`);
    for (const [k, v] of Object.entries(values ?? {})) vars[`${from.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) vars[e.name] = await envValue(ctx, e, vars, namespace, c);
  for (const m of mounts) vars[mountEnvName(m.name)] = m.localPath;
  for (const [k, v] of Object.entries(vars)) vars[k] = substituteMounts(v, mounts);
  return vars;
}

async function envValue(
  ctx: EnvContext,
  e: V1EnvVar,
  vars: Readonly<Record<string, string>>,
  namespace: string,
  c: V1Container,
): Promise<string> {
  if (e.value !== undefined) return expandVars(e.value, vars);
  const from = e.valueFrom;
  if (from?.fieldRef !== undefined) return fieldValue(ctx, from.fieldRef.fieldPath);
  if (from?.resourceFieldRef !== undefined) {
    const [kind, resource] = from.resourceFieldRef.resource.split('.');
    const bag = kind === 'limits' ? c.resources?.limits : c.resources?.requests;
    return String(bag?.[resource ?? ''] ?? (resource === 'cpu' ? '1' : '0'));
  }
  const keyRef = from?.configMapKeyRef ?? from?.secretKeyRef;
  if (keyRef !== undefined) {
    const values = await ctx.readKey(
      from?.configMapKeyRef !== undefined ? 'configMap' : 'secret',
      namespace,
      keyRef.name ?? '',
    );
    const value = values?.[keyRef.key];
    if (value === undefined && keyRef.optional !== true)
      throw new Error(`env ${e.name}: ${keyRef.name ?? ''}/${keyRef.key} not found`);
    return value ?? '';
  }
  return '';
}
