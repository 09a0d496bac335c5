// TLS material for `npm run bench -- --tls on|both`: one throwaway CA and one certificate for
// 127.0.0.1 (serverAuth and clientAuth), made with the openssl command line. Every member of both
// systems serves its client port and its peer port (mutual TLS) with it: on loopback the IP SAN
// names each member (kv-store's peer identity rule accepts the advertised host, etcd checks it too).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface BenchTls {
  /** CA certificate (PEM) clients and peers verify against */
  ca: string;
  cert: string;
  key: string;
}

export function makeBenchTls(dir: string): BenchTls {
  mkdirSync(dir, { recursive: true });
  const file = (name: string): string => path.join(dir, name);
  const openssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-days',
    '7',
    '-subj',
    '/CN=kv-bench-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  writeFileSync(
    file('member.ext'),
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ].join('\n'),
  );
  openssl([
    'req',
    ...ec,
    '-keyout',
    file('member.key'),
    '-out',
    file('member.csr'),
    '-subj',
    '/CN=kv-bench-member',
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    file('member.csr'),
    '-CA',
    file('ca.crt'),
    '-CAkey',
    file('ca.key'),
    '-set_serial',
    '1',
    '-out',
    file('member.crt'),
    '-extfile',
    file('member.ext'),
    '-days',
    '7',
  ]);
  return { ca: file('ca.crt'), cert: file('member.crt'), key: file('member.key') };
}
