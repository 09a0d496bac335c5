// Carries out the security decisions for one cluster (issue 14, ADR 0069): the PKI Secrets
// (certs/cluster-pki.ts decides), root's Secret, the operator's bearer token, and the auth state
// (reconcile/auth.ts decides). Events say what happened; no secret value reaches a log or event.
import type { X509Certificate } from 'node:crypto';
import type { V1Pod, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import type { KVCluster, TlsStatus } from '../types.ts';
import { withDefaults } from '../types.ts';
import type { Kube } from '../kube/kube.ts';
import { isConflict } from '../kube/kube.ts';
import type { Logger } from '../observability/log.ts';
import {
  RENEW_CERTS_ANNOTATION,
  ROTATE_CA_ANNOTATION,
  bundleOf,
  carryOutPki,
  issuedBy,
  parseDuration,
  parsePki,
  planPki,
  type PkiEvent,
  type PkiSettings,
} from '../certs/cluster-pki.ts';
import { operatorIdentityOf } from '../certs/operator-identity.ts';
import { renewAt, validityOf, type CaPhase, type MemberNames } from '../certs/pki.ts';
import { names, ordinalOf } from '../specs/names.ts';
import {
  ROOT_PASSWORD_KEY,
  buildCaBundleSecret,
  buildCaSecret,
  buildRootSecret,
  buildTlsSecret,
  decodeSecret,
} from '../specs/secrets.ts';
import { recoveredRootPassword } from './restored-root.ts';
import { ROOT, declaredUsers, generatePassword, passwordDigest, planAuth, type AuthAction } from './auth.ts';
import { HttpNodeAdmin, NodeApiError, type NodeAdmin, type NodeSecurity } from './nodeclient.ts';

export interface TlsOutcome {
  /** The trust bundle (PEM) the operator verifies members with. */
  bundle: string;
  /** The operator's client certificate and key (CN root, certs/operator-identity.ts). */
  identity: { cert: string; key: string } | null;
  status: TlsStatus;
  recheckAt: number;
}

const PHASE_NAMES: Record<CaPhase, string> = {
  stable: 'Stable',
  'trust-both': 'TrustBoth',
  reissue: 'Reissue',
  'drop-old': 'DropOld',
};

/** Ordinals that need a certificate: every pod that exists or the spec or StatefulSet may create. */
export function membersNeedingCertificates(
  kv: KVCluster,
  statefulSet: V1StatefulSet | null,
  pods: V1Pod[],
): MemberNames[] {
  const n = names(kv);
  let count = Math.max(withDefaults(kv.spec).replicas, statefulSet?.spec?.replicas ?? 0);
  for (const p of pods) {
    const o = ordinalOf(kv.metadata.name, p.metadata?.name ?? '');
    if (o !== undefined) count = Math.max(count, o + 1);
  }
  return Array.from({ length: count }, (_, i) => ({
    namespace: kv.metadata.namespace,
    member: n.member(i),
    peerService: n.peerService,
    clientService: n.clientService,
  }));
}

export function pkiSettings(kv: KVCluster): PkiSettings {
  const tls = withDefaults(kv.spec).tls;
  return {
    certDurationMs: parseDuration(tls.certificateDuration),
    ...(tls.renewBefore !== undefined ? { renewBeforeMs: parseDuration(tls.renewBefore) } : {}),
    caDurationMs: parseDuration(tls.caDuration),
    propagationMs: tls.propagationSeconds * 1000,
  };
}

function eventOf(e: PkiEvent): { reason: string; message: string } {
  switch (e.kind) {
    case 'ca-created':
      return { reason: 'CACreated', message: 'created the cluster CA' };
    case 'ca-phase':
      return {
        reason: 'CARotation',
        message: `CA rotation: ${PHASE_NAMES[e.from]} -> ${PHASE_NAMES[e.to]}`,
      };
    case 'issued':
      return { reason: 'CertificateIssued', message: `issued the certificate of ${e.member} (${e.reason})` };
    case 'issued-operator':
      return {
        reason: 'CertificateIssued',
        message: `issued the operator's client certificate (${e.reason})`,
      };
  }
}

/** How long the operator uses root's token after a member refused its certificate. */
const CERTIFICATE_RETRY_MS = 5 * 60_000;

/** The auth reconcile: a problem to report (or null), and whether auth is on in the cluster. */
export interface AuthOutcome {
  problem: string | null;
  enabled: boolean;
}

export interface SecurityDeps {
  kube: Kube;
  log: Logger;
  now: () => number;
}

export class ClusterSecurity {
  private readonly deps: SecurityDeps;
  /** Bearer tokens by cluster uid (10-minute tokens, renewed a minute early). */
  private readonly tokens = new Map<string, { authorization: string; expiresAt: number }>();
  /** Digests of passwords known to be applied (see auth.ts passwordDigest). */
  private readonly applied = new Set<string>();
  /** Clusters whose members refused the operator's certificate (401): tokens until then (ms). */
  private readonly certificateRefusedUntil = new Map<string, number>();

  constructor(deps: SecurityDeps) {
    this.deps = deps;
  }

  private async event(kv: KVCluster, type: 'Normal' | 'Warning', reason: string, message: string) {
    this.deps.log.info('event', { cluster: `${kv.metadata.namespace}/${kv.metadata.name}`, reason, message });
    try {
      await this.deps.kube.event?.(kv, type, reason, message);
    } catch (err) {
      this.deps.log.warn('event not recorded', { reason, error: err });
    }
  }

  /**
   * Brings the CA and member certificates to what planPki decides. `servedFromCa` reports whether
   * every running member serves a certificate from the given CA (asked only during a CA rotation).
   */
  async ensureTls(
    kv: KVCluster,
    statefulSet: V1StatefulSet | null,
    pods: V1Pod[],
    servedFromCa: (bundle: string, isFromCa: (cert: X509Certificate) => boolean) => Promise<boolean>,
  ): Promise<TlsOutcome> {
    const { kube } = this.deps;
    const ns = kv.metadata.namespace;
    const n = names(kv);
    const now = this.deps.now();
    const [caSecret, tlsSecret] = await Promise.all([
      kube.get<V1Secret>('v1', 'Secret', ns, n.caSecret),
      kube.get<V1Secret>('v1', 'Secret', ns, n.tlsSecret),
    ]);
    const caData = decodeSecret(caSecret);
    const tlsData = decodeSecret(tlsSecret);
    const have = parsePki(
      caData === null ? null : { data: caData, annotations: caSecret?.metadata?.annotations ?? {} },
      tlsData === null ? null : { data: tlsData },
    );
    const settings = pkiSettings(kv);
    const served =
      have.phase === 'reissue' && have.ca !== null
        ? await servedFromCa(tlsData?.['ca.crt'] ?? '', (c) => issuedBy(c, have.ca)).catch(() => false)
        : false;
    const plan = planPki(
      have,
      {
        members: membersNeedingCertificates(kv, statefulSet, pods),
        settings,
        requests: {
          rotateCa: kv.metadata.annotations?.[ROTATE_CA_ANNOTATION],
          renewCertificates: kv.metadata.annotations?.[RENEW_CERTS_ANNOTATION],
        },
        now,
      },
      served,
    );
    const changed =
      plan.createCa ||
      plan.startRotation ||
      plan.promotePending ||
      plan.dropPrevious ||
      plan.issue.length > 0 ||
      plan.remove.length > 0 ||
      plan.issueOperator !== null ||
      plan.phase !== have.phase ||
      plan.rotateDone !== have.rotateDone ||
      plan.renewDone !== have.renewDone ||
      !have.bundleCurrent;
    let bundle = tlsData?.['ca.crt'] ?? '';
    let finalCa = caData ?? {};
    let finalTls = tlsData ?? {};
    if (changed) {
      const out = carryOutPki(
        plan,
        { caData: caData ?? {}, tlsData: tlsData ?? {}, phaseSince: have.phaseSince },
        kv.metadata.name,
        settings,
        now,
      );
      // CA first: a crash before the members' Secret is written is repaired by the next plan.
      await kube.apply(buildCaSecret(kv, out.caData, out.caAnnotations));
      await kube.apply(buildTlsSecret(kv, out.tlsData));
      bundle = out.tlsData['ca.crt'] ?? bundleOf(out.caData);
      finalCa = out.caData;
      finalTls = out.tlsData;
      for (const e of plan.events) {
        const ev = eventOf(e);
        await this.event(kv, 'Normal', ev.reason, ev.message);
      }
    }
    await kube.apply(buildCaBundleSecret(kv, bundle));
    return {
      bundle,
      identity: operatorIdentityOf(finalCa),
      status: tlsStatusOf(finalCa, finalTls, plan.phase, settings),
      recheckAt: plan.recheckAt,
    };
  }

  /** The root password, generating its Secret on first use. */
  private async rootPassword(kv: KVCluster): Promise<string> {
    const { kube } = this.deps;
    const name = names(kv).rootSecret;
    const existing = decodeSecret(await kube.get<V1Secret>('v1', 'Secret', kv.metadata.namespace, name));
    const pw = existing?.[ROOT_PASSWORD_KEY];
    if (pw !== undefined && pw.length >= 8) return pw;
    try {
      // A cluster restored from an archive keeps its source's root: start from that password.
      const inherited = await recoveredRootPassword(kube, kv);
      await kube.create(buildRootSecret(kv, inherited ?? generatePassword()));
      await this.event(
        kv,
        'Normal',
        'RootCredentialsCreated',
        inherited !== null
          ? `root's password in Secret ${name} copied from ${withDefaults(kv.spec).bootstrap?.recovery?.rootSecret ?? ''} (the restored cluster's)`
          : `generated root's password in Secret ${name}`,
      );
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
    const again = decodeSecret(await kube.get<V1Secret>('v1', 'Secret', kv.metadata.namespace, name));
    const created = again?.[ROOT_PASSWORD_KEY];
    if (created === undefined || created.length < 8)
      throw new Error(`Secret ${name} has no usable ${ROOT_PASSWORD_KEY}`);
    return created;
  }

  /**
   * Who the operator is on this cluster's members: its client certificate (CN root) with TLS, so
   * root's password is used only to check that root has it; a root token without TLS, or for a
   * while after a member refused the certificate (a member started without -trusted-ca-file, as
   * before ADR 0074, until it is rolled).
   */
  async credentials(
    kv: KVCluster,
    admin: HttpNodeAdmin,
    tls: TlsOutcome | null,
    urls: string[],
  ): Promise<{ identity: { cert: string; key: string } } | { authorization: string } | null> {
    if (!withDefaults(kv.spec).auth.enabled) return null;
    const refusedUntil = this.certificateRefusedUntil.get(kv.metadata.uid) ?? 0;
    if (tls?.identity != null && refusedUntil <= this.deps.now()) return { identity: tls.identity };
    const authorization = await this.authorization(kv, admin, urls);
    return authorization === undefined ? null : { authorization };
  }

  /** A member answered 401 to the operator's certificate: use root's token for a while. */
  certificateRefused(kv: KVCluster): void {
    const uid = kv.metadata.uid;
    if ((this.certificateRefusedUntil.get(uid) ?? 0) <= this.deps.now())
      this.deps.log.warn('a member refused the operator client certificate; using root token for 5 minutes', {
        cluster: `${kv.metadata.namespace}/${kv.metadata.name}`,
      });
    this.certificateRefusedUntil.set(uid, this.deps.now() + CERTIFICATE_RETRY_MS);
  }

  /** The Authorization header for this cluster's members, logging in as root when needed. */
  async authorization(kv: KVCluster, admin: HttpNodeAdmin, urls: string[]): Promise<string | undefined> {
    if (!withDefaults(kv.spec).auth.enabled) return undefined;
    const cached = this.tokens.get(kv.metadata.uid);
    if (cached !== undefined && cached.expiresAt - 60_000 > this.deps.now()) return cached.authorization;
    this.tokens.delete(kv.metadata.uid);
    for (const url of urls) {
      try {
        // Open while auth is off: then no token is needed (and no failed login is counted against root).
        if (!(await admin.authStatus(url)).enabled) return undefined;
      } catch (err) {
        if (!(err instanceof NodeApiError && err.status === 401)) continue; // unreachable: next member
      }
      const password = await this.rootPassword(kv);
      try {
        const t = await admin.login(url, ROOT, password);
        if (t === null) {
          await this.event(
            kv,
            'Warning',
            'RootLoginFailed',
            `root's password in ${names(kv).rootSecret} was refused`,
          );
          return undefined;
        }
        const authorization = `Bearer ${t.token}`;
        this.tokens.set(kv.metadata.uid, { authorization, expiresAt: Date.parse(t.expiresAt) });
        this.applied.add(passwordDigest(kv.metadata.uid, ROOT, password));
        return authorization;
      } catch {
        // unreachable or rate limited: try the next member
      }
    }
    return undefined;
  }

  forgetToken(kv: KVCluster): void {
    this.tokens.delete(kv.metadata.uid);
  }

  /**
   * Bootstraps root, enables auth and applies the declared users and roles, through `url` (the
   * leader's). Returns a problem to report, or null when the cluster's auth is as declared.
   */
  async ensureAuth(kv: KVCluster, admin: HttpNodeAdmin, url: string): Promise<AuthOutcome> {
    const spec = withDefaults(kv.spec).auth;
    if (!spec.enabled) return { problem: null, enabled: false };
    const { kube } = this.deps;
    const uid = kv.metadata.uid;
    const rootPassword = await this.rootPassword(kv);
    const [status, users, roles] = await Promise.all([
      admin.authStatus(url),
      admin.users(url),
      admin.roles(url),
    ]);
    const secrets = new Map<string, Record<string, string> | null>();
    for (const u of spec.users) {
      const ref = u.passwordSecretRef.name;
      if (!secrets.has(ref))
        secrets.set(ref, decodeSecret(await kube.get<V1Secret>('v1', 'Secret', kv.metadata.namespace, ref)));
    }
    const isApplied = async (user: string, password: string): Promise<boolean> => {
      if (this.applied.has(passwordDigest(uid, user, password))) return true;
      if (!users.some((u) => u.name === user)) return false;
      // A login tells whether the cluster has this password (409 auth-not-ready also means it matched).
      try {
        const ok = (await admin.login(url, user, password)) !== null;
        if (ok) this.applied.add(passwordDigest(uid, user, password));
        return ok;
      } catch (err) {
        const matched = err instanceof NodeApiError && err.code === 'auth-not-ready';
        if (matched) this.applied.add(passwordDigest(uid, user, password));
        return matched;
      }
    };
    const rootApplied = await isApplied(ROOT, rootPassword);
    const declared = declaredUsers(
      spec.users,
      (ref) => {
        const pw = secrets.get(ref.name)?.[ref.key];
        return pw !== undefined && pw.length >= 8 ? pw : undefined;
      },
      () => false,
    );
    for (const d of declared)
      if (d.password !== undefined) d.passwordApplied = await isApplied(d.name, d.password);
    const actions = planAuth(
      { enabled: status.enabled, users, roles },
      { passwordApplied: rootApplied },
      spec.roles,
      declared,
    );
    const passwordOf = (user: string) =>
      user === ROOT ? rootPassword : (declared.find((d) => d.name === user)?.password ?? '');
    for (const a of actions) {
      await this.carryOut(admin, url, a, passwordOf);
      if (a.kind === 'add-user' || a.kind === 'set-password')
        this.applied.add(passwordDigest(uid, a.user, passwordOf(a.user)));
      if (a.kind === 'set-password') this.tokens.delete(uid);
      await this.event(kv, 'Normal', reasonOf(a), describe(a));
    }
    const enabled = status.enabled || actions.some((a) => a.kind === 'enable');
    const missing = declared.filter((d) => d.password === undefined).map((d) => d.name);
    if (missing.length > 0) {
      const msg = `no usable password (Secret or key missing, or under 8 characters) for ${missing.join(', ')}`;
      await this.event(kv, 'Warning', 'UserPasswordMissing', msg);
      return { problem: msg, enabled };
    }
    return { problem: null, enabled };
  }

  private async carryOut(
    admin: HttpNodeAdmin,
    url: string,
    a: AuthAction,
    passwordOf: (user: string) => string,
  ): Promise<void> {
    switch (a.kind) {
      case 'add-user':
        return admin.addUser(url, a.user, passwordOf(a.user));
      case 'set-password':
        return admin.setPassword(url, a.user, passwordOf(a.user));
      case 'grant':
        return admin.grantRole(url, a.user, a.role);
      case 'revoke':
        return admin.revokeRole(url, a.user, a.role);
      case 'put-role':
        return admin.putRole(url, a.role);
      case 'enable':
        return admin.enableAuth(url);
    }
  }
}

function reasonOf(a: AuthAction): string {
  switch (a.kind) {
    case 'add-user':
      return 'UserCreated';
    case 'set-password':
      return 'PasswordSet';
    case 'grant':
      return 'RoleGranted';
    case 'revoke':
      return 'RoleRevoked';
    case 'put-role':
      return 'RoleApplied';
    case 'enable':
      return 'AuthEnabled';
  }
}

function describe(a: AuthAction): string {
  switch (a.kind) {
    case 'add-user':
      return `created user ${a.user}`;
    case 'set-password':
      return `set the password of ${a.user} from its Secret`;
    case 'grant':
      return `granted role ${a.role} to ${a.user}`;
    case 'revoke':
      return `revoked role ${a.role} from ${a.user}`;
    case 'put-role':
      return `applied role ${a.role.name} (${a.role.permissions.length} permissions)`;
    case 'enable':
      return 'enabled authentication';
  }
}

function tlsStatusOf(
  caData: Record<string, string>,
  tlsData: Record<string, string>,
  phase: CaPhase,
  settings: PkiSettings,
): TlsStatus {
  const parsed = parsePki({ data: caData, annotations: {} }, { data: tlsData });
  const out: TlsStatus = { caPhase: PHASE_NAMES[phase] };
  let earliest: number | undefined;
  let renew: number | undefined;
  for (const c of parsed.members.values()) {
    const v = validityOf(c);
    earliest = Math.min(earliest ?? Infinity, v.notAfter);
    const at =
      settings.renewBeforeMs === undefined
        ? renewAt(v)
        : Math.max(v.notBefore, v.notAfter - settings.renewBeforeMs);
    renew = Math.min(renew ?? Infinity, at);
  }
  if (earliest !== undefined) out.certificatesExpireAt = new Date(earliest).toISOString();
  if (renew !== undefined) out.renewAt = new Date(renew).toISOString();
  if (parsed.ca !== null) out.caExpiresAt = new Date(validityOf(parsed.ca).notAfter).toISOString();
  return out;
}

/** The secured node client for a cluster, when the injected client supports it (fakes do not). */
export function securedAdmin(node: NodeAdmin, security: NodeSecurity): NodeAdmin {
  return node instanceof HttpNodeAdmin ? node.secured(security) : node;
}
