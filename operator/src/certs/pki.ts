// What the operator's cluster PKI should hold, as pure decisions over what exists (issue 14):
// which names a member's certificate carries, when a certificate is renewed, and the phases of a
// CA rotation in which the trust bundle holds both CAs so no member ever distrusts another.
import type { X509Certificate } from 'node:crypto';

export const DEFAULT_CERT_LIFETIME_DAYS = 90;
export const DEFAULT_CA_LIFETIME_DAYS = 3650;
/** Renew once this fraction of the lifetime has passed (90 days -> renewed after 60). */
export const RENEW_AT_FRACTION = 2 / 3;
/** node/src/security/peer-identity.ts MEMBER_URI_PREFIX, copied (see reconcile/rules-agree.test.ts). */
export const MEMBER_URI_PREFIX = 'urn:kvstore:member:';

export interface MemberNames {
  namespace: string;
  /** Pod name, also the Raft member id. */
  member: string;
  peerService: string;
  clientService: string;
}

/**
 * Subject alternative names of a member's certificate, used for both its peer and client ports:
 * its pod DNS names under the headless peer Service (the host of its advertised URLs), the client
 * Service (clients connect through it), and its member URI (ADR 0068).
 */
export function memberSans(n: MemberNames): string[] {
  const pod = `${n.member}.${n.peerService}.${n.namespace}.svc`;
  const client = `${n.clientService}.${n.namespace}.svc`;
  return [
    `DNS:${pod}`,
    `DNS:${pod}.cluster.local`,
    `DNS:${client}`,
    `DNS:${client}.cluster.local`,
    `DNS:${n.clientService}`,
    `URI:${MEMBER_URI_PREFIX}${n.member}`,
  ];
}

export interface Validity {
  notBefore: number;
  notAfter: number;
}

export function validityOf(cert: X509Certificate): Validity {
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
}

/** The moment a certificate should be replaced. */
export function renewAt(v: Validity, fraction = RENEW_AT_FRACTION): number {
  return v.notBefore + Math.floor((v.notAfter - v.notBefore) * fraction);
}

export type CertDecision =
  | { action: 'keep'; recheckAt: number }
  | { action: 'issue'; reason: 'missing' | 'renewal-due' | 'expired' | 'wrong-names' | 'wrong-issuer' };

/** Whether a member certificate must be (re)issued, given the names and CA it should have. */
export function decideMemberCert(
  existing: { validity: Validity; sans: string[]; issuedByCurrentCa: boolean } | null,
  wantSans: string[],
  now: number,
  fraction = RENEW_AT_FRACTION,
): CertDecision {
  if (!existing) return { action: 'issue', reason: 'missing' };
  if (existing.validity.notAfter <= now) return { action: 'issue', reason: 'expired' };
  if (!existing.issuedByCurrentCa) return { action: 'issue', reason: 'wrong-issuer' };
  const have = new Set(existing.sans);
  if (wantSans.some((s) => !have.has(s))) return { action: 'issue', reason: 'wrong-names' };
  const due = renewAt(existing.validity, fraction);
  if (due <= now) return { action: 'issue', reason: 'renewal-due' };
  return { action: 'keep', recheckAt: due };
}

/**
 * CA rotation, one phase per reconcile step; every member must have picked up a phase's files
 * before the next starts (the node re-reads them by polling):
 * 1. `trust-both`: a new CA exists; the bundle holds old + new, certificates are still the old CA's.
 * 2. `reissue`: every member certificate is reissued from the new CA (both CAs still trusted).
 * 3. `drop-old`: the bundle holds the new CA only.
 */
export type CaPhase = 'stable' | 'trust-both' | 'reissue' | 'drop-old';

export function nextCaPhase(s: {
  phase: CaPhase;
  oldCaRenewalDue: boolean;
  allMembersSeeBundle: boolean;
  allCertsFromNewCa: boolean;
}): CaPhase {
  switch (s.phase) {
    case 'stable':
      return s.oldCaRenewalDue ? 'trust-both' : 'stable';
    case 'trust-both':
      return s.allMembersSeeBundle ? 'reissue' : 'trust-both';
    case 'reissue':
      return s.allCertsFromNewCa && s.allMembersSeeBundle ? 'drop-old' : 'reissue';
    case 'drop-old':
      return s.allMembersSeeBundle ? 'stable' : 'drop-old';
  }
}
