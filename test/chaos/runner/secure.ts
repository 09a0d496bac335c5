// Secure mode of the chaos suite (issue 14): members talk peer mutual TLS, serve the client API
// over HTTPS with client certificates required, and authentication is on. The PKI is made with
// the node's test helper (openssl); each member gets a certificate naming its id (URI SAN) and
// its slot's address (IP SAN), issued when the member is first started, so members that replace
// others get their own. Clients authenticate two ways: half of them by their certificate's CN
// (user `chaos`), half by a bearer token of user `chaos-token` (over a certificate naming no user:
// the token decides). The nemesis's membership calls run as `root` by certificate.
import { readFileSync } from 'node:fs';
import { TestPki, type IssuedFiles } from '../../../node/src/security/test-certs.test-helper.ts';
import { httpsAgent, request, type Caller } from './http.ts';

export const WORKLOAD_PASSWORD = 'chaos-token-password';

export class SecureSetup {
  readonly #pki: TestPki;
  readonly #ca: IssuedFiles;
  #token = '';
  /** Root by certificate: membership changes, status, final reads. */
  readonly admin: Caller;
  /** Workload clients: by certificate (user chaos) or by token (user chaos-token). */
  readonly byCertificate: Caller;
  readonly byToken: Caller;

  private constructor(pki: TestPki) {
    this.#pki = pki;
    this.#ca = pki.ca('chaos-ca');
    const ca = readFileSync(this.#ca.cert);
    const agentFor = (user: string): Caller['agent'] => {
      const f = pki.leaf(`user-${user}`, this.#ca, { cn: user, sans: [] });
      return httpsAgent({ ca, cert: readFileSync(f.cert), key: readFileSync(f.key) });
    };
    this.admin = { agent: agentFor('root') };
    this.byCertificate = { agent: agentFor('chaos'), label: 'certificate' };
    this.byToken = {
      label: 'token',
      agent: agentFor('no-such-user'),
      headers: (): Record<string, string> => (this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
    };
  }

  static create(): SecureSetup {
    return new SecureSetup(new TestPki());
  }

  /** TLS flags of a member (one certificate for both ports, as the operator issues them). */
  memberArgs(id: string, host: string): string[] {
    const f = this.#pki.leaf(`member-${id}`, this.#ca, {
      cn: id,
      sans: [`IP:${host}`, `URI:urn:kvstore:member:${id}`],
    });
    const ca = this.#ca.cert;
    return [
      '-cert-file',
      f.cert,
      '-key-file',
      f.key,
      '-trusted-ca-file',
      ca,
      '-client-cert-auth',
      '-peer-cert-file',
      f.cert,
      '-peer-key-file',
      f.key,
      '-peer-trusted-ca-file',
      ca,
    ];
  }

  /**
   * Creates root (role root), the workload users with readwrite on `prefix`, enables auth, and
   * logs the token user in. `base` is the leader's client URL.
   */
  async enableAuth(base: string, prefix: string): Promise<void> {
    const call = async (
      method: string,
      path: string,
      body?: unknown,
      caller = this.admin,
    ): Promise<unknown> => {
      const res = await request(method, `${base}${path}`, body, 15_000, caller);
      if (res.kind !== 'response' || res.status >= 300)
        throw new Error(
          `${method} ${path}: ${res.kind === 'response' ? `${res.status} ${JSON.stringify(res.body)}` : res.code}`,
        );
      return res.body;
    };
    await call('POST', '/v1/auth/users', { name: 'root', password: 'chaos-root-password' });
    await call('POST', '/v1/auth/users/root/roles', { role: 'root' });
    await call('POST', '/v1/auth/roles', { name: 'chaos', permissions: [{ prefix, access: 'readwrite' }] });
    for (const name of ['chaos', 'chaos-token']) {
      await call('POST', '/v1/auth/users', { name, password: WORKLOAD_PASSWORD });
      await call('POST', `/v1/auth/users/${name}/roles`, { role: 'chaos' });
    }
    await call('POST', '/v1/auth/enable', {});
    await this.login(base);
  }

  /** A fresh token for user chaos-token (tokens live 10 minutes; the runner renews them). */
  async login(base: string): Promise<void> {
    const res = await request(
      'POST',
      `${base}/v1/auth/token`,
      { name: 'chaos-token', password: WORKLOAD_PASSWORD },
      15_000,
      { agent: this.byToken.agent },
    );
    if (res.kind !== 'response' || res.status !== 200)
      throw new Error(`login failed: ${res.kind === 'response' ? res.status : res.code}`);
    this.#token = (res.body as { token: string }).token;
  }

  cleanup(): void {
    this.#pki.cleanup();
  }
}
