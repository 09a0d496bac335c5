// The cluster PKI as the operator keeps it in two Secrets (issue 14, ADR 0069):
// - `<name>-ca`: the signing CA (cert and key), during a rotation also the pending or previous CA;
// - `<name>-tls`: mounted by every member: `ca.crt` (the trust bundle) and `<member>.crt`/`.key`.
// planPki() decides (pure); carryOutPki() issues what it decided and returns the new Secret data.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { CaPhase, MemberNames, Validity } from './pki.ts';
import { decideMemberCert, memberSans, nextCaPhase, renewAt, validityOf } from './pki.ts';
import { issueCertificate } from './x509.ts';
import { decideOperatorCert, issueOperatorCert, OPERATOR_CERT_KEYS } from './operator-identity.ts';

export const CA_KEYS = {
  cert: 'ca.crt',
  key: 'ca.key',
  pendingCert: 'pending-ca.crt',
  pendingKey: 'pending-ca.key',
  previousCert: 'previous-ca.crt',
} as const;
export const BUNDLE_KEY = 'ca.crt';
export const PHASE_ANNOTATION = 'kvstore.io/ca-phase';
export const PHASE_SINCE_ANNOTATION = 'kvstore.io/ca-phase-since';
/** On the KVCluster: change the value to rotate the CA now / reissue every member certificate now. */
export const ROTATE_CA_ANNOTATION = 'kvstore.io/rotate-ca';
export const RENEW_CERTS_ANNOTATION = 'kvstore.io/renew-certificates';
/** On the Secrets: the last request value carried out. */
export const ROTATE_CA_DONE_ANNOTATION = 'kvstore.io/rotate-ca-done';
export const RENEW_CERTS_DONE_ANNOTATION = 'kvstore.io/renew-certificates-done';
/** Issued certificates start this far in the past, for members whose clock is slightly behind. */
const BACKDATE_MS = 5 * 60_000;

const UNITS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000 };

/** `2160h`, `90m`, `1h30m` -> milliseconds (the CRD's pattern); throws on anything else. */
export function parseDuration(text: string): number {
  if (!/^([0-9]+(h|m|s))+$/.test(text)) throw new Error(`invalid duration ${JSON.stringify(text)}`);
  let ms = 0;
  for (const m of text.matchAll(/([0-9]+)(h|m|s)/g)) ms += Number(m[1]) * UNITS[m[2]!]!;
  return ms;
}

export interface PkiSettings {
  certDurationMs: number;
  /** Absent: renew at 2/3 of the lifetime. */
  renewBeforeMs?: number;
  caDurationMs: number;
  propagationMs: number;
}

export interface ParsedPki {
  ca: X509Certificate | null;
  pending: X509Certificate | null;
  previous: X509Certificate | null;
  phase: CaPhase;
  phaseSince: number;
  rotateDone: string | undefined;
  renewDone: string | undefined;
  /** Member certificates in the tls Secret, by member name. */
  members: Map<string, X509Certificate>;
  /** The operator's client certificate (CA Secret, operator-identity.ts), if any. */
  operator: X509Certificate | null;
  /** Whether the bundle in the tls Secret is the one the CA Secret implies. */
  bundleCurrent: boolean;
}

export interface PkiRequests {
  rotateCa: string | undefined;
  renewCertificates: string | undefined;
}

export type PkiEvent =
  | { kind: 'ca-created' }
  | { kind: 'ca-phase'; from: CaPhase; to: CaPhase }
  | { kind: 'issued'; member: string; reason: string }
  | { kind: 'issued-operator'; reason: string };

export interface PkiPlan {
  createCa: boolean;
  /** Generate the next CA (enter trust-both). */
  startRotation: boolean;
  /** Promote the pending CA to signing CA (enter reissue). */
  promotePending: boolean;
  /** Forget the previous CA (enter drop-old). */
  dropPrevious: boolean;
  phase: CaPhase;
  issue: { member: MemberNames; reason: string }[];
  /** Member certificates to remove (members that are gone). */
  remove: string[];
  /** Why the operator's own client certificate is (re)issued, or null to keep it. */
  issueOperator: string | null;
  rotateDone: string | undefined;
  renewDone: string | undefined;
  /** Reconcile again by then at the latest. */
  recheckAt: number;
  events: PkiEvent[];
}

function caRenewalDue(ca: X509Certificate, now: number): boolean {
  return renewAt(validityOf(ca)) <= now;
}

function renewFraction(v: Validity, s: PkiSettings): number | undefined {
  if (s.renewBeforeMs === undefined) return undefined;
  const life = v.notAfter - v.notBefore;
  return life <= 0 ? 0 : Math.max(0, Math.min(1, 1 - s.renewBeforeMs / life));
}

export function sansOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((p) => p !== '')
    .map((p) => p.replace(/^IP Address:/, 'IP:'));
}

export function issuedBy(cert: X509Certificate, ca: X509Certificate | null): boolean {
  return ca !== null && cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/**
 * One reconcile's worth of PKI decisions. `servedFromCurrentCa`: every member's client port now
 * presents a certificate from the signing CA (checked by the reconciler over TLS), which proves the
 * reissued files reached the members before the old CA is dropped.
 */
export function planPki(
  have: ParsedPki,
  want: { members: MemberNames[]; settings: PkiSettings; requests: PkiRequests; now: number },
  servedFromCurrentCa: boolean,
): PkiPlan {
  const { now, settings, requests } = want;
  const events: PkiEvent[] = [];
  const plan: PkiPlan = {
    createCa: false,
    startRotation: false,
    promotePending: false,
    dropPrevious: false,
    phase: have.phase,
    issue: [],
    remove: [],
    issueOperator: null,
    rotateDone: have.rotateDone,
    renewDone: have.renewDone,
    recheckAt: now + 3_600_000,
    events,
  };
  let signing = have.ca;
  if (signing === null) {
    // No CA (first reconcile, or the Secret was deleted): start over; every member is reissued.
    plan.createCa = true;
    plan.phase = 'stable';
    plan.rotateDone = requests.rotateCa;
    events.push({ kind: 'ca-created' });
  } else {
    // A rotation whose pending CA went missing starts again from a stable CA.
    const phase = have.phase === 'trust-both' && have.pending === null ? 'stable' : have.phase;
    const settled = now - have.phaseSince >= settings.propagationMs;
    const rotateAsked = requests.rotateCa !== undefined && requests.rotateCa !== have.rotateDone;
    const allFromSigning = [...have.members.values()].every((c) => issuedBy(c, signing));
    const next = nextCaPhase({
      phase,
      oldCaRenewalDue: caRenewalDue(signing, now) || rotateAsked,
      allMembersSeeBundle: settled && have.bundleCurrent,
      allCertsFromNewCa: allFromSigning && servedFromCurrentCa,
    });
    if (next !== phase) {
      events.push({ kind: 'ca-phase', from: phase, to: next });
      plan.phase = next;
      if (next === 'trust-both') {
        plan.startRotation = true;
        plan.rotateDone = requests.rotateCa;
      }
      if (next === 'reissue') plan.promotePending = true;
      if (next === 'drop-old') plan.dropPrevious = true;
    }
    if (plan.phase !== 'stable') plan.recheckAt = Math.min(plan.recheckAt, now + settings.propagationMs);
    if (plan.promotePending) signing = have.pending;
  }

  const renewAsked =
    requests.renewCertificates !== undefined && requests.renewCertificates !== have.renewDone;
  if (renewAsked) plan.renewDone = requests.renewCertificates;
  const wanted = new Set(want.members.map((m) => m.member));
  for (const m of want.members) {
    const cert = have.members.get(m.member);
    const sans = memberSans(m);
    if (plan.createCa || plan.promotePending || signing === null) {
      plan.issue.push({ member: m, reason: cert === undefined ? 'missing' : 'new-ca' });
      continue;
    }
    if (renewAsked) {
      plan.issue.push({ member: m, reason: 'requested' });
      continue;
    }
    const existing =
      cert === undefined
        ? null
        : { validity: validityOf(cert), sans: sansOf(cert), issuedByCurrentCa: issuedBy(cert, signing) };
    const fraction = existing === null ? undefined : renewFraction(existing.validity, settings);
    const d = decideMemberCert(existing, sans, now, fraction);
    if (d.action === 'issue') plan.issue.push({ member: m, reason: d.reason });
    else plan.recheckAt = Math.min(plan.recheckAt, d.recheckAt);
  }
  for (const name of have.members.keys()) if (!wanted.has(name)) plan.remove.push(name);
  for (const i of plan.issue) events.push({ kind: 'issued', member: i.member.member, reason: i.reason });
  // The operator's certificate follows the members': a new CA, a request, renewal at 2/3.
  if (plan.createCa || plan.promotePending || signing === null)
    plan.issueOperator = have.operator === null ? 'missing' : 'new-ca';
  else if (renewAsked) plan.issueOperator = 'requested';
  else {
    const op = have.operator;
    const fraction = op === null ? undefined : renewFraction(validityOf(op), settings);
    const d = decideOperatorCert(op, op !== null && issuedBy(op, signing), now, fraction);
    if (d.action === 'issue') plan.issueOperator = d.reason;
    else plan.recheckAt = Math.min(plan.recheckAt, d.recheckAt);
  }
  if (plan.issueOperator !== null) events.push({ kind: 'issued-operator', reason: plan.issueOperator });
  return plan;
}

const PHASES: CaPhase[] = ['stable', 'trust-both', 'reissue', 'drop-old'];

function cert(pem: string | undefined): X509Certificate | null {
  if (pem === undefined || pem === '') return null;
  try {
    return new X509Certificate(pem);
  } catch {
    return null;
  }
}

/** The trust bundle the CA Secret implies: previous, signing and pending CA, in that order. */
export function bundleOf(caData: Record<string, string>): string {
  return [CA_KEYS.previousCert, CA_KEYS.cert, CA_KEYS.pendingCert]
    .map((k) => caData[k])
    .filter((pem): pem is string => pem !== undefined && pem !== '')
    .join('');
}

/** Reads the two Secrets (decoded data, annotations). A CA without a usable key counts as none. */
export function parsePki(
  ca: { data: Record<string, string>; annotations: Record<string, string> } | null,
  tls: { data: Record<string, string> } | null,
): ParsedPki {
  const caData = ca?.data ?? {};
  let signing = cert(caData[CA_KEYS.cert]);
  try {
    if (signing !== null) createPrivateKey(caData[CA_KEYS.key] ?? '');
  } catch {
    signing = null;
  }
  const phaseText = ca?.annotations[PHASE_ANNOTATION] as CaPhase | undefined;
  const members = new Map<string, X509Certificate>();
  for (const [key, value] of Object.entries(tls?.data ?? {})) {
    if (!key.endsWith('.crt') || key === BUNDLE_KEY) continue;
    const c = cert(value);
    if (c !== null) members.set(key.slice(0, -'.crt'.length), c);
  }
  const since = Date.parse(ca?.annotations[PHASE_SINCE_ANNOTATION] ?? '');
  return {
    ca: signing,
    pending: cert(caData[CA_KEYS.pendingCert]),
    previous: cert(caData[CA_KEYS.previousCert]),
    phase: phaseText !== undefined && PHASES.includes(phaseText) ? phaseText : 'stable',
    phaseSince: Number.isFinite(since) ? since : 0,
    rotateDone: ca?.annotations[ROTATE_CA_DONE_ANNOTATION],
    renewDone: ca?.annotations[RENEW_CERTS_DONE_ANNOTATION],
    members,
    operator: cert(caData[OPERATOR_CERT_KEYS.cert]),
    bundleCurrent: signing !== null && (tls?.data[BUNDLE_KEY] ?? '') === bundleOf(caData),
  };
}

export interface PkiSecrets {
  caData: Record<string, string>;
  caAnnotations: Record<string, string>;
  tlsData: Record<string, string>;
}

/** Issues what the plan decided; returns the complete new contents of both Secrets. */
export function carryOutPki(
  plan: PkiPlan,
  current: { caData: Record<string, string>; tlsData: Record<string, string>; phaseSince: number },
  clusterName: string,
  settings: PkiSettings,
  now: number,
): PkiSecrets {
  const caData = { ...current.caData };
  const tlsData = { ...current.tlsData };
  const newCa = () => {
    const c = issueCertificate({
      commonName: `${clusterName} kv-store CA`,
      organization: 'kv-store',
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + settings.caDurationMs),
      isCa: true,
      usage: [],
    });
    return { cert: c.certPem, key: c.keyPem };
  };
  if (plan.createCa) {
    for (const k of [...Object.values(CA_KEYS), ...Object.values(OPERATOR_CERT_KEYS)]) delete caData[k];
    const c = newCa();
    caData[CA_KEYS.cert] = c.cert;
    caData[CA_KEYS.key] = c.key;
  }
  if (plan.startRotation) {
    const c = newCa();
    caData[CA_KEYS.pendingCert] = c.cert;
    caData[CA_KEYS.pendingKey] = c.key;
  }
  if (plan.promotePending) {
    caData[CA_KEYS.previousCert] = caData[CA_KEYS.cert] ?? '';
    caData[CA_KEYS.cert] = caData[CA_KEYS.pendingCert] ?? '';
    caData[CA_KEYS.key] = caData[CA_KEYS.pendingKey] ?? '';
    delete caData[CA_KEYS.pendingCert];
    delete caData[CA_KEYS.pendingKey];
  }
  if (plan.dropPrevious) delete caData[CA_KEYS.previousCert];
  const issuer = {
    cert: new X509Certificate(caData[CA_KEYS.cert]!),
    key: createPrivateKey(caData[CA_KEYS.key]!),
  };
  for (const { member } of plan.issue) {
    const c = issueCertificate(
      {
        commonName: member.member,
        organization: 'kv-store',
        sans: memberSans(member),
        notBefore: new Date(now - BACKDATE_MS),
        notAfter: new Date(now + settings.certDurationMs),
        isCa: false,
        // One certificate for the member's HTTPS client port and both ends of its peer streams.
        usage: ['server', 'client'],
      },
      issuer,
    );
    tlsData[`${member.member}.crt`] = c.certPem;
    tlsData[`${member.member}.key`] = c.keyPem;
  }
  if (plan.issueOperator !== null) {
    const c = issueOperatorCert(issuer, {
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + settings.certDurationMs),
    });
    caData[OPERATOR_CERT_KEYS.cert] = c.cert;
    caData[OPERATOR_CERT_KEYS.key] = c.key;
  }
  for (const name of plan.remove) {
    delete tlsData[`${name}.crt`];
    delete tlsData[`${name}.key`];
  }
  tlsData[BUNDLE_KEY] = bundleOf(caData);
  const phaseChanged = plan.events.some((e) => e.kind === 'ca-phase') || plan.createCa;
  const caAnnotations: Record<string, string> = {
    [PHASE_ANNOTATION]: plan.phase,
    [PHASE_SINCE_ANNOTATION]: new Date(phaseChanged ? now : current.phaseSince).toISOString(),
  };
  if (plan.rotateDone !== undefined) caAnnotations[ROTATE_CA_DONE_ANNOTATION] = plan.rotateDone;
  if (plan.renewDone !== undefined) caAnnotations[RENEW_CERTS_DONE_ANNOTATION] = plan.renewDone;
  return { caData, caAnnotations, tlsData };
}
