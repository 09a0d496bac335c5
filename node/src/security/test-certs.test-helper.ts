// Test helper: a throwaway CA and certificates made with the openssl command line (Debian's
// openssl package), in a temporary directory. Only for tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IssuedFiles {
  cert: string;
  key: string;
}

export class TestPki {
  readonly dir: string;
  #serial = 1;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'kvstore-pki-'));
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  /** A self-signed CA; returns its cert and key paths. */
  ca(name: string, days = 30): IssuedFiles {
    const key = join(this.dir, `${name}.key`);
    const cert = join(this.dir, `${name}.crt`);
    this.openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      String(days),
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return { cert, key };
  }

  /**
   * A leaf certificate signed by `ca` with the given SANs (e.g. `DNS:localhost`, `IP:127.0.0.1`,
   * `URI:urn:kvstore:member:n1`). `expired` makes one whose validity ended in 2020.
   */
  leaf(
    name: string,
    ca: IssuedFiles,
    o: { cn?: string; sans: string[]; days?: number; expired?: boolean },
  ): IssuedFiles {
    const key = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    const cert = join(this.dir, `${name}.crt`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(
      ext,
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth,clientAuth',
        ...(o.sans.length > 0 ? [`subjectAltName=${o.sans.join(',')}`] : []),
      ].join('\n'),
    );
    this.openssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      csr,
      '-subj',
      `/CN=${o.cn ?? name}`,
    ]);
    if (o.expired) {
      // `openssl x509` (3.0) cannot backdate; `openssl ca` can, with a throwaway database.
      const db = join(this.dir, `${name}.db`);
      writeFileSync(db, '');
      const cfg = join(this.dir, `${name}.cnf`);
      writeFileSync(
        cfg,
        [
          '[ca]',
          'default_ca=test',
          '[test]',
          `database=${db}`,
          `new_certs_dir=${this.dir}`,
          `serial=${join(this.dir, `${name}.srl`)}`,
          'default_md=sha256',
          'policy=any',
          'unique_subject=no',
          '[any]',
          'commonName=supplied',
        ].join('\n'),
      );
      writeFileSync(
        join(this.dir, `${name}.srl`),
        `${(1000 + this.#serial++).toString(16).padStart(4, '0')}\n`,
      );
      this.openssl([
        'ca',
        '-batch',
        '-config',
        cfg,
        '-cert',
        ca.cert,
        '-keyfile',
        ca.key,
        '-in',
        csr,
        '-out',
        cert,
        '-extfile',
        ext,
        '-notext',
        '-startdate',
        '20200101000000Z',
        '-enddate',
        '20200102000000Z',
      ]);
    } else {
      this.openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        ca.cert,
        '-CAkey',
        ca.key,
        '-set_serial',
        String(this.#serial++),
        '-out',
        cert,
        '-extfile',
        ext,
        '-days',
        String(o.days ?? 30),
      ]);
    }
    return { cert, key };
  }

  /** Concatenates CA certificates into one bundle file. */
  bundle(name: string, cas: IssuedFiles[]): string {
    const path = join(this.dir, `${name}.pem`);
    writeFileSync(path, cas.map((c) => readFileSync(c.cert, 'utf8')).join(''));
    return path;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
