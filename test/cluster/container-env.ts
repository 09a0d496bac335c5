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

/**
 * Replaces a mountPath (at a path boundary) with its local directory, so `--data=/data/x` works.
 * One pass over the value: a replacement is never rewritten again, so a local directory that
 * itself lies under another mountPath (a state dir under /tmp with a /tmp emptyDir) stays as is.
 */
export function substituteMounts(
  value: string,
  mounts: readonly Pick<Mount, 'mountPath' | 'localPath'>[],
): string {
  const byPath = new Map<string, string>();
  for (const m of mounts) {
    const mp = m.mountPath.replace(/\/+$/, '');
    if (mp !== '') byPath.set(mp, m.localPath);
  }
  if (byPath.size === 0) return value;
  // Longest mount path first in the alternation, so /data/wal wins over /data.
  const alternatives = [...byPath.keys()]
    .sort((a, b) => b.length - a.length)
    .map((mp) => mp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return value.replace(
    new RegExp(`(^|[=:,\\s])(${alternatives.join('|')})(?=$|/|[\\s,:;])`, 'g'),
    (_m, lead: string, mp: string) => `${lead}${byPath.get(mp) ?? mp}`,
  );
}

/**
 * The argv of a container, as Kubernetes builds it: the image's ENTRYPOINT/CMD (here the image
 * map's command/args: host paths, used as they are) unless the container's command/args replace
 * them; only the container's own strings get $(VAR) expansion and mountPath rewriting, so an
 * image command under a mounted path (a checkout in /tmp, with a /tmp emptyDir) is not rewritten.
 */
export function containerArgv(
  image: { readonly command: readonly string[]; readonly args?: readonly string[] },
  container: Pick<V1Container, 'command' | 'args'>,
  expand: (value: string) => string,
): string[] {
  const args = (container.args ?? []).map(expand);
  if (container.command !== undefined) return [...container.command.map(expand), ...args];
  return [...image.command, ...(container.args !== undefined ? args : [...(image.args ?? [])])];
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
  // The image's own env holds host paths already (like its command); only values from the pod
  // spec are rewritten.
  for (const [k, v] of Object.entries(vars)) if (imageEnv[k] !== v) vars[k] = substituteMounts(v, mounts);
  for (const m of mounts) vars[mountEnvName(m.name)] = m.localPath;
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
