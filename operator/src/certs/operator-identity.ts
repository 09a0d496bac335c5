// The operator's own client certificate for one cluster (ADR 0074). Members verify a client
// certificate that chains to their CA bundle and take its CN as the user, so the operator calls
// every member API as `root` by certificate, never with root's password. CN `root` rather than a
// user of its own: root is the one user that exists with the root role whenever auth is on (the
// node refuses to enable auth otherwise, and root cannot lose the role), so no bootstrap step and
// no API call can lock the operator out. The certificate lives in the CA Secret, which only the
// operator reads, and is renewed, reissued by a CA rotation and by `kvstore.io/renew-certificates`
// together with the member certificates.
import type { X509Certificate } from 'node:crypto';
import { type KeyObject } from 'node:crypto';
import { decideMemberCert, validityOf, type CertDecision } from './pki.ts';
import { issueCertificate } from './x509.ts';

/** Keys of the operator's certificate and key in the `<name>-ca` Secret. */
export const OPERATOR_CERT_KEYS = { cert: 'operator-client.crt', key: 'operator-client.key' } as const;
/** The user the operator acts as on members. */
export const OPERATOR_USER = 'root';
/** Written as the certificate's organization, so the certificate says who holds it. */
export const OPERATOR_ORGANIZATION = 'kv-store-operator';

/** Whether the operator's certificate must be (re)issued; same rules as a member's, no SANs. */
export function decideOperatorCert(
  existing: X509Certificate | null,
  issuedByCurrentCa: boolean,
  now: number,
  fraction: number | undefined,
): CertDecision {
  if (existing !== null && !existing.subject.split('\n').includes(`CN=${OPERATOR_USER}`))
    return { action: 'issue', reason: 'wrong-names' };
  return decideMemberCert(
    existing === null ? null : { validity: validityOf(existing), sans: [], issuedByCurrentCa },
    [],
    now,
    fraction,
  );
}

/** A client-only certificate with CN `root`, signed by the cluster's signing CA. */
export function issueOperatorCert(
  issuer: { cert: X509Certificate; key: KeyObject },
  validity: { notBefore: Date; notAfter: Date },
): { cert: string; key: string } {
  const c = issueCertificate(
    {
      commonName: OPERATOR_USER,
      organization: OPERATOR_ORGANIZATION,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      isCa: false,
      usage: ['client'],
    },
    issuer,
  );
  return { cert: c.certPem, key: c.keyPem };
}

/** The operator's certificate and key from the CA Secret's data, if both are there. */
export function operatorIdentityOf(caData: Record<string, string>): { cert: string; key: string } | null {
  const cert = caData[OPERATOR_CERT_KEYS.cert];
  const key = caData[OPERATOR_CERT_KEYS.key];
  return cert !== undefined && cert !== '' && key !== undefined && key !== '' ? { cert, key } : null;
}
