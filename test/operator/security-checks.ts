// Security checks of the operator e2e suite (issue 14, ADR 0074), kept apart from the lifecycle
// steps in operator.e2e.test.ts, which calls them in order on the `demo` cluster:
// - the operator authenticates to members by its own client certificate (not root's password);
// - users and roles declared in spec.auth work through the Service;
// - leaf certificates renewed on request under a writer, without a restart;
// - nothing secret in logs, events, status or the chart NOTES.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import type { Env } from './harness.ts';
import { KvClient, NS, OPERATOR_NS, RELEASE, Writer, condition, eventually, get, put } from './harness.ts';

const OPERATOR_CERT = 'operator-client.crt';
const OPERATOR_KEY = 'operator-client.key';
/** What a token looks like (node/src/auth/token.ts): kv1.<claims>.<mac>. */
const TOKEN_SHAPE = /kv1\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/;
const PRIVATE_KEY_HEADER = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

const podName = (p: V1Pod) => p.metadata?.name ?? '';

async function rootPassword(env: Env): Promise<string> {
  return (await env.secret('demo-root'))!['password']!;
}

/** A root client with a given password (root's Secret may not hold it while a check runs). */
async function rootWith(env: Env, password: string): Promise<KvClient> {
  const ca = (await env.secret('demo-ca-bundle'))!['ca.crt']!;
  return new KvClient({ ca, user: 'root', password });
}

/**
 * The operator acts by its certificate (CN root, from the cluster CA, kept only in the CA
 * Secret). Proof that no password is involved: root's password is changed behind the operator's
 * back, which revokes every root token, and the operator still applies a newly declared user and
 * role. That user then reads through the Service and is refused a write (403).
 */
export async function checkOperatorCertificateAndDeclaredUsers(env: Env): Promise<void> {
  const ca = await env.secret('demo-ca');
  assert.ok(ca?.[OPERATOR_CERT] !== undefined && ca[OPERATOR_KEY] !== undefined, 'in the CA Secret');
  const cert = new X509Certificate(ca[OPERATOR_CERT]);
  assert.match(cert.subject, /(^|\n)CN=root(\n|$)/);
  assert.ok(cert.verify(new X509Certificate(ca['ca.crt']!).publicKey), 'issued by the cluster CA');
  const tls = await env.secret('demo-tls');
  assert.ok(
    !Object.keys(tls ?? {}).some((k) => k.startsWith('operator')),
    'not in the Secret every member mounts',
  );
  const authReady = (await env.kv())?.status?.conditions?.find((c) => c.type === 'AuthReady');
  assert.equal(authReady?.status, 'True');
  assert.match(authReady?.message ?? '', /client certificate/);

  const secretPassword = await rootPassword(env);
  const changed = `changed-${Date.now()}-behind-the-operator`;
  const service = env.serviceUrl('demo');
  const asRoot = await rootWith(env, secretPassword);
  const r = await asRoot.request('POST', `${service}/v1/auth/users/root/password`, { password: changed });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  try {
    const readerPassword = `reader-${Date.now()}-password`;
    await env.kubectl(
      ['-n', NS, 'apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'demo-app-reader', namespace: NS },
        stringData: { password: readerPassword },
      }),
    );
    const auth = {
      roles: [{ name: 'e2e-read', permissions: [{ prefix: 'e2e/', access: 'read' }] }],
      users: [
        {
          name: 'app-reader',
          passwordSecretRef: { name: 'demo-app-reader', key: 'password' },
          roles: ['e2e-read'],
        },
      ],
    };
    await env.kubectl([
      '-n',
      NS,
      'patch',
      'kvcluster',
      'demo',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { auth } }),
    ]);
    const reader = new KvClient({
      ca: (await env.secret('demo-ca-bundle'))!['ca.crt']!,
      user: 'app-reader',
      password: readerPassword,
    });
    // Logged in and the role granted: the read is allowed (before the grant it is a 403).
    await eventually(
      'the declared user reads through the Service',
      async () => ((await get(service, 'e2e/secure', reader)).status === 200 ? true : undefined),
      90_000,
    );
    assert.deepEqual(await get(service, 'e2e/secure', reader), { status: 200, value: 'yes' });
    const write = await reader.request('PUT', `${service}/v1/kv/e2e/by-reader`, { value: 'no' });
    assert.equal(write.status, 403, JSON.stringify(write.json));
    assert.equal((write.json as { error: { code: string } }).error.code, 'permission-denied');
    assert.equal((await get(service, 'outside/e2e', reader)).status, 403, 'outside the role prefix');
    assert.equal(condition(await env.kv(), 'AuthReady'), 'True');
  } finally {
    // Back to the Secret's password, for the clients of the later steps.
    const asChanged = await rootWith(env, changed);
    const back = await asChanged.request('POST', `${service}/v1/auth/users/root/password`, {
      password: secretPassword,
    });
    assert.equal(back.status, 200, JSON.stringify(back.json));
  }
}

/** The certificate a pod's client port serves now (by pod IP, verified for its DNS name). */
function servedCertificate(env: Env, pod: V1Pod, ca: string): Promise<X509Certificate> {
  const host = new URL(env.podUrl(pod)).hostname;
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: pod.status?.podIP ?? '', port: 8080, servername: host, ca, timeout: 5000 },
      () => {
        const c = socket.getPeerX509Certificate();
        socket.destroy();
        if (c === undefined) reject(new Error('no certificate'));
        else resolve(c);
      },
    );
    socket.on('timeout', () => socket.destroy(new Error('timeout')));
    socket.on('error', reject);
  });
}

/**
 * `kvstore.io/renew-certificates`: every member certificate and the operator's are reissued from
 * the same CA while a writer writes through the Service; every member serves its new certificate
 * without a restart and not one request fails.
 */
export async function checkLeafRenewalUnderWriter(env: Env, client: KvClient): Promise<void> {
  const podsBefore = new Map((await env.pods()).map((p) => [podName(p), p]));
  const caBefore = (await env.secret('demo-ca'))!;
  const tlsBefore = (await env.secret('demo-tls'))!;
  const writer = new Writer(env, 'renew', client, env.serviceUrl('demo'));
  writer.start();
  try {
    await sleep(2000);
    await env.kubectl([
      '-n',
      NS,
      'annotate',
      '--overwrite',
      'kvcluster',
      'demo',
      `kvstore.io/renew-certificates=${Date.now()}`,
    ]);
    const tlsAfter = await eventually(
      'every member certificate and the operator certificate reissued',
      async () => {
        const tls = await env.secret('demo-tls');
        const ca = await env.secret('demo-ca');
        const members = [...podsBefore.keys()];
        return tls !== undefined &&
          ca !== undefined &&
          members.every((m) => tls[`${m}.crt`] !== undefined && tls[`${m}.crt`] !== tlsBefore[`${m}.crt`]) &&
          ca[OPERATOR_CERT] !== caBefore[OPERATOR_CERT]
          ? tls
          : undefined;
      },
      60_000,
    );
    await eventually(
      'every member serves its new certificate',
      async () => {
        for (const p of await env.pods()) {
          const served = await servedCertificate(env, p, tlsAfter['ca.crt']!);
          if (served.fingerprint256 !== new X509Certificate(tlsAfter[`${podName(p)}.crt`]!).fingerprint256)
            return undefined;
        }
        return true;
      },
      90_000,
    );
    await sleep(3000); // writes continue on the new certificates
  } finally {
    await writer.stop();
  }
  assert.ok(writer.acknowledged.size > 10, `writes continued (${writer.acknowledged.size})`);
  assert.equal(writer.failures, 0, `failed requests during the renewal: ${writer.failures}`);
  assert.deepEqual(await writer.lost(), []);
  const caAfter = (await env.secret('demo-ca'))!;
  assert.equal(caAfter['ca.crt'], caBefore['ca.crt'], 'a leaf renewal keeps the CA');
  for (const p of await env.pods()) {
    const before = podsBefore.get(podName(p));
    assert.equal(p.metadata?.uid, before?.metadata?.uid, `${podName(p)} not recreated`);
    assert.equal(
      p.status?.containerStatuses?.[0]?.restartCount,
      before?.status?.containerStatuses?.[0]?.restartCount,
      `${podName(p)} not restarted`,
    );
  }
  // The operator goes on with its renewed certificate (a refusal would be logged and fall back).
  assert.equal(await put(env.serviceUrl('demo'), 'e2e/after-renewal', 'ok', client), 200);
  assert.doesNotMatch(await env.operatorLogs(), /refused the operator client certificate/);
}

/**
 * No password, token or private key in the operator's and members' logs, the events, the
 * KVCluster status or the chart NOTES, after the secure steps above have run (logins, declared
 * users, renewals, a CA rotation).
 */
export async function checkNothingSecretLeaks(env: Env): Promise<void> {
  const service = env.serviceUrl('demo');
  const password = await rootPassword(env);
  const asRoot = await rootWith(env, password);
  // A token in use: some requests through the Service and every pod with it.
  const login = await asRoot.raw('POST', `${service}/v1/auth/token`, { name: 'root', password });
  assert.equal(login.status, 200);
  const token = (login.json as { token: string }).token;
  const bearer = { authorization: `Bearer ${token}` };
  assert.equal((await asRoot.raw('GET', `${service}/v1/kv/e2e/secure`, undefined, bearer)).status, 200);
  for (const p of await env.readyPods())
    await asRoot.raw('GET', `${env.podUrl(p)}/v1/kv/e2e/secure`, undefined, bearer);
  await asRoot.raw('GET', `${service}/v1/kv/e2e/secure`, undefined, { authorization: `Bearer ${token}x` });

  const secrets: [string, string][] = [
    ['root password', password],
    ['token', token],
  ];
  const reader = (await env.secret('demo-app-reader'))?.['password'];
  if (reader !== undefined) secrets.push(['declared user password', reader]);
  // Every private key the operator holds or mounted: a line from the middle of its PEM body.
  for (const s of ['demo-ca', 'demo-tls'])
    for (const [k, v] of Object.entries((await env.secret(s)) ?? {}))
      if (PRIVATE_KEY_HEADER.test(v)) secrets.push([`${s}/${k}`, v.split('\n')[1]!]);

  const sources: [string, string][] = [['operator log', await env.operatorLogs()]];
  for (const p of await env.pods()) sources.push([`log of ${podName(p)}`, env.logs(podName(p))]);
  sources.push(['events', await env.kubectl(['get', 'events', '-A', '-o', 'json'])]);
  sources.push(['KVCluster status', JSON.stringify((await env.kv())?.status ?? {})]);
  sources.push(['chart NOTES', await env.helm(['get', 'notes', RELEASE, '-n', OPERATOR_NS])]);
  assert.ok(
    sources.every(([, text]) => text.length > 0),
    'every source has content (an empty one would pass vacuously)',
  );
  for (const [where, text] of sources) {
    for (const [what, value] of secrets) assert.ok(!text.includes(value), `${what} in the ${where}`);
    assert.doesNotMatch(text, TOKEN_SHAPE, `a token in the ${where}`);
    assert.doesNotMatch(text, PRIVATE_KEY_HEADER, `a private key in the ${where}`);
  }
}
