// Issues X.509 certificates (ECDSA P-256, SHA-256) with node:crypto for the keys and signatures
// and der.ts for the encoding: the operator runs its cluster CA without openssl or cert-manager.
import {
  createHash,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  namedBits,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from './der.ts';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyId: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyId: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 };

export interface CertificateRequest {
  commonName: string;
  organization?: string;
  /** `DNS:name`, `IP:1.2.3.4`, `URI:urn:...` */
  sans?: string[];
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  usage: ('server' | 'client')[];
}

export interface Issuer {
  /** The issuer's certificate (for its subject and key id), absent for a self-signed CA. */
  cert: X509Certificate;
  key: KeyObject;
}

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  cert: X509Certificate;
  key: KeyObject;
}

function name(cn: string, org?: string): Buffer {
  const rdns = [set(sequence(oid(OID.commonName), utf8String(cn)))];
  if (org !== undefined) rdns.unshift(set(sequence(oid(OID.organization), utf8String(org))));
  return sequence(...rdns);
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

function generalName(san: string): Buffer {
  const colon = san.indexOf(':');
  const kind = san.slice(0, colon);
  const value = san.slice(colon + 1);
  if (kind === 'DNS' && /^[A-Za-z0-9*.-]{1,253}$/.test(value))
    return implicitPrimitive(2, Buffer.from(value, 'latin1'));
  if (kind === 'URI' && /^[\x21-\x7e]{1,2048}$/.test(value))
    return implicitPrimitive(6, Buffer.from(value, 'latin1'));
  if (kind === 'IP' && isIP(value) === 4)
    return implicitPrimitive(7, Buffer.from(value.split('.').map(Number)));
  if (kind === 'IP' && isIP(value) === 6) return implicitPrimitive(7, ipv6Bytes(value));
  throw new Error(`unsupported subject alternative name ${JSON.stringify(san)}`);
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.from(groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1). */
function keyId(spkiDer: Buffer): Buffer {
  // SubjectPublicKeyInfo = SEQUENCE { AlgorithmIdentifier, BIT STRING subjectPublicKey }
  const [, key] = children(spkiDer, 0);
  if (!key || spkiDer[key.start] !== 0x03) throw new Error('not a SubjectPublicKeyInfo');
  return createHash('sha1')
    .update(spkiDer.subarray(key.headerEnd + 1, key.end))
    .digest();
}

/** Issues a certificate for a new P-256 key, signed by `issuer` (or self-signed without one). */
export function issueCertificate(req: CertificateRequest, issuer?: Issuer): IssuedCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const ski = keyId(spki);
  const signingKey = issuer?.key ?? privateKey;
  const aki = issuer ? keyId(issuer.cert.publicKey.export({ type: 'spki', format: 'der' })) : ski;
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;

  const usages = req.isCa
    ? [KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]
    : [KEY_USAGE.digitalSignature, KEY_USAGE.keyEncipherment];
  const extensions = [
    extension(OID.basicConstraints, true, req.isCa ? sequence(boolean(true), smallInteger(0)) : sequence()),
    extension(OID.keyUsage, true, namedBits(usages)),
    extension(OID.subjectKeyId, false, octetString(ski)),
    extension(OID.authorityKeyId, false, sequence(implicitPrimitive(0, aki))),
  ];
  if (!req.isCa && req.usage.length > 0) {
    extensions.push(
      extension(
        OID.extKeyUsage,
        false,
        sequence(...req.usage.map((u) => oid(u === 'server' ? OID.serverAuth : OID.clientAuth))),
      ),
    );
  }
  if (req.sans && req.sans.length > 0) {
    extensions.push(extension(OID.subjectAltName, false, sequence(...req.sans.map(generalName))));
  }
  const subject = name(req.commonName, req.organization);
  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    signatureAlgorithm,
    issuer ? issuerSubject(issuer.cert) : subject,
    sequence(time(req.notBefore), time(req.notAfter)),
    subject,
    spki,
    explicit(3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, signingKey); // DER-encoded ECDSA signature
  const der = sequence(tbs, signatureAlgorithm, bitString(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { certPem, keyPem, cert: new X509Certificate(certPem), key: privateKey };
}

/** The issuer's subject Name, byte for byte, from its DER (so chains match exactly). */
function issuerSubject(cert: X509Certificate): Buffer {
  return subjectOf(Buffer.from(cert.raw));
}

interface Element {
  start: number;
  headerEnd: number;
  end: number;
}

function element(buf: Buffer, at: number): Element {
  let len = buf[at + 1]!;
  let headerEnd = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[at + 2 + i]!;
    headerEnd = at + 2 + n;
  }
  if (headerEnd + len > buf.length) throw new Error('truncated DER');
  return { start: at, headerEnd, end: headerEnd + len };
}

/** The elements inside the constructed element at `at`. */
function children(buf: Buffer, at: number): Element[] {
  const outer = element(buf, at);
  const out: Element[] = [];
  for (let i = outer.headerEnd; i < outer.end;) {
    const e = element(buf, i);
    out.push(e);
    i = e.end;
  }
  return out;
}

/** Certificate -> TBSCertificate -> subject (after the optional [0] version, serial, signature, issuer, validity). */
export function subjectOf(der: Buffer): Buffer {
  const [tbs] = children(der, 0);
  if (!tbs) throw new Error('not a certificate');
  const fields = children(der, tbs.start);
  const skip = der[fields[0]!.start] === 0xa0 ? 1 : 0;
  const subject = fields[skip + 4];
  if (!subject) throw new Error('certificate without subject');
  return der.subarray(subject.start, subject.end);
}
