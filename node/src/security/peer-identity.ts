// Which member a peer certificate may speak for. A member's certificate names it in its subject
// alternative names by the host of its advertised peer URL (a DNS name or an IP address, as the
// operator issues them for pod DNS names) or by a URI `urn:kvstore:member:<id>`. A certificate
// from the right CA that names no member of this cluster is refused.
import type { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

export const MEMBER_URI_PREFIX = 'urn:kvstore:member:';

interface SanEntries {
  dns: string[];
  ips: string[];
  uris: string[];
}

export function subjectAltNames(cert: X509Certificate): SanEntries {
  const out: SanEntries = { dns: [], ips: [], uris: [] };
  for (const part of (cert.subjectAltName ?? '').split(/,\s*/)) {
    const colon = part.indexOf(':');
    if (colon < 0) continue;
    const kind = part.slice(0, colon);
    const value = part.slice(colon + 1).replace(/^"|"$/g, '');
    if (kind === 'DNS') out.dns.push(value.toLowerCase());
    else if (kind === 'IP Address') out.ips.push(normalizeIp(value));
    else if (kind === 'URI') out.uris.push(value);
  }
  return out;
}

function normalizeIp(ip: string): string {
  return ip.replace(/^\[|\]$/g, '').toLowerCase();
}

function dnsMatches(pattern: string, host: string): boolean {
  if (pattern === host) return true;
  // One leading wildcard label, as in TLS hostname checks: *.svc matches a.svc, not a.b.svc.
  if (pattern.startsWith('*.')) {
    const rest = pattern.slice(1);
    return host.endsWith(rest) && !host.slice(0, -rest.length).includes('.') && host.length > rest.length;
  }
  return false;
}

/** Whether `cert` names the member `id` reachable at `host`. */
export function certificateNamesMember(cert: X509Certificate, member: { id: string; host: string }): boolean {
  const san = subjectAltNames(cert);
  if (san.uris.includes(`${MEMBER_URI_PREFIX}${member.id}`)) return true;
  const host = normalizeIp(member.host.toLowerCase());
  if (isIP(host) !== 0) return san.ips.includes(host);
  return san.dns.some((p) => dnsMatches(p, host));
}

/**
 * The rule the transport applies to a peer stream: the certificate names the member (above), and
 * a certificate that names member ids by URI speaks for those ids only, even where its host SANs
 * would match (members sharing a host, as on one machine, must not speak for each other).
 */
export function certificateMaySpeakFor(cert: X509Certificate, member: { id: string; host: string }): boolean {
  const memberUris = subjectAltNames(cert).uris.filter((u) => u.startsWith(MEMBER_URI_PREFIX));
  if (memberUris.length > 0 && !memberUris.includes(`${MEMBER_URI_PREFIX}${member.id}`)) return false;
  return certificateNamesMember(cert, member);
}

/**
 * The member a client-port connection speaks for when it forwards a caller's request (ADR 0068):
 * its certificate was issued directly by a CA of the peer bundle (not only the client CA) and
 * names, by URI, a member of the current configuration. Host SANs do not count here: a user's
 * client certificate may well carry a host name, a member URI only a member's certificate has.
 */
export function forwardingMemberOf(
  cert: X509Certificate,
  peerCas: readonly X509Certificate[],
  memberIds: readonly string[],
): string | null {
  const issuedByPeerCa = peerCas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (!issuedByPeerCa) return null;
  const uris = subjectAltNames(cert).uris;
  return memberIds.find((id) => uris.includes(`${MEMBER_URI_PREFIX}${id}`)) ?? null;
}
