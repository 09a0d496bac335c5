import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import type { MemberNames } from './pki.ts';
import {
  BUNDLE_KEY,
  CA_KEYS,
  PHASE_ANNOTATION,
  carryOutPki,
  parseDuration,
  parsePki,
  planPki,
  type PkiSecrets,
  type PkiSettings,
} from './cluster-pki.ts';
import { OPERATOR_CERT_KEYS, operatorIdentityOf } from './operator-identity.ts';

const HOUR = 3_600_000;
const settings: PkiSettings = {
  certDurationMs: 90 * 24 * HOUR,
  caDurationMs: 3650 * 24 * HOUR,
  propagationMs: 60_000,
};
const member = (i: number): MemberNames => ({
  namespace: 'apps',
  member: `demo-${i}`,
  peerService: 'demo-peers',
  clientService: 'demo',
});
const members = [member(0), member(1), member(2)];

/** One reconcile: parse, plan, carry out; returns the new Secrets and the plan. */
function step(
  secrets: PkiSecrets | null,
  now: number,
  opts: {
    members?: MemberNames[];
    served?: boolean;
    rotateCa?: string;
    renew?: string;
    s?: PkiSettings;
  } = {},
) {
  const have = parsePki(
    secrets === null ? null : { data: secrets.caData, annotations: secrets.caAnnotations },
    secrets === null ? null : { data: secrets.tlsData },
  );
  const plan = planPki(
    have,
    {
      members: opts.members ?? members,
      settings: opts.s ?? settings,
      requests: { rotateCa: opts.rotateCa, renewCertificates: opts.renew },
      now,
    },
    opts.served ?? true,
  );
  const out = carryOutPki(
    plan,
    { caData: secrets?.caData ?? {}, tlsData: secrets?.tlsData ?? {}, phaseSince: have.phaseSince },
    'demo',
    opts.s ?? settings,
    now,
  );
  return { plan, out };
}

const pems = (bundle: string) =>
  bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? [];
const caOf = (s: PkiSecrets) => new X509Certificate(s.caData[CA_KEYS.cert]!);
const memberCert = (s: PkiSecrets, i: number) => new X509Certificate(s.tlsData[`demo-${i}.crt`]!);

void describe('cluster PKI', () => {
  void test('durations: hours, minutes, seconds and their sums; anything else is refused', () => {
    assert.equal(parseDuration('2160h'), 2160 * HOUR);
    assert.equal(parseDuration('1h30m'), 90 * 60_000);
    assert.equal(parseDuration('45s'), 45_000);
    assert.throws(() => parseDuration('10d'));
    assert.throws(() => parseDuration(''));
  });

  void test('first reconcile: a CA, one certificate per member from it, the bundle holding the CA', () => {
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    const { plan, out } = step(null, t0);
    assert.ok(plan.createCa);
    assert.deepEqual(
      plan.issue.map((i) => i.member.member),
      ['demo-0', 'demo-1', 'demo-2'],
    );
    const ca = caOf(out);
    assert.ok(ca.ca);
    assert.equal(out.tlsData[BUNDLE_KEY], out.caData[CA_KEYS.cert]);
    for (const i of [0, 1, 2]) {
      const c = memberCert(out, i);
      assert.ok(c.verify(ca.publicKey), `demo-${i} signed by the CA`);
      assert.ok(c.checkHost(`demo-${i}.demo-peers.apps.svc.cluster.local`));
      assert.ok(c.checkHost('demo.apps.svc'), 'the client Service name');
      assert.equal(Date.parse(c.validTo) - Date.parse(c.validFrom), settings.certDurationMs + 5 * 60_000);
    }
    // Nothing to do the next time round.
    const again = step(out, t0 + HOUR);
    assert.equal(again.plan.issue.length, 0);
    assert.equal(again.plan.createCa, false);
  });

  void test('renewal at 2/3 of the lifetime (or renewBefore), in place, from the same CA', () => {
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    const first = step(null, t0).out;
    const before60Days = step(first, t0 + 59 * 24 * HOUR);
    assert.equal(before60Days.plan.issue.length, 0);
    assert.ok(before60Days.plan.recheckAt <= t0 + 60 * 24 * HOUR);
    const at61 = step(first, t0 + 61 * 24 * HOUR);
    assert.deepEqual(
      at61.plan.issue.map((i) => i.reason),
      ['renewal-due', 'renewal-due', 'renewal-due'],
    );
    assert.equal(at61.out.caData[CA_KEYS.cert], first.caData[CA_KEYS.cert], 'same CA');
    assert.notEqual(at61.out.tlsData['demo-0.crt'], first.tlsData['demo-0.crt']);
    const early = step(first, t0 + 80 * 24 * HOUR - 1, { s: { ...settings, renewBeforeMs: 10 * 24 * HOUR } });
    assert.equal(early.plan.issue.length, 0, 'renewBefore 10 days: not yet at day 80');
  });

  void test('a renewal request reissues every member once; a new member gets its certificate, a gone one loses it', () => {
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    const first = step(null, t0).out;
    const renewed = step(first, t0 + 1000, { renew: 'r1' });
    assert.equal(renewed.plan.issue.length, 3);
    assert.equal(step(renewed.out, t0 + 2000, { renew: 'r1' }).plan.issue.length, 0, 'carried out once');
    const grown = step(renewed.out, t0 + 3000, { members: [...members, member(3)] });
    assert.deepEqual(
      grown.plan.issue.map((i) => `${i.member.member}:${i.reason}`),
      ['demo-3:missing'],
    );
    const shrunk = step(grown.out, t0 + 4000, { members: members.slice(0, 2) });
    assert.deepEqual(shrunk.plan.remove.sort(), ['demo-2', 'demo-3']);
    assert.equal(shrunk.out.tlsData['demo-3.key'], undefined);
  });

  void test('CA rotation: both CAs trusted before any certificate changes, old CA dropped only after every member serves the new one', () => {
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    const prop = settings.propagationMs;
    const s0 = step(null, t0).out;
    const oldCa = s0.caData[CA_KEYS.cert]!;

    // 1. trust-both: a pending CA, the bundle holds both, certificates untouched.
    const s1 = step(s0, t0 + 1000, { rotateCa: 'x' });
    assert.equal(s1.plan.phase, 'trust-both');
    assert.equal(s1.out.caAnnotations[PHASE_ANNOTATION], 'trust-both');
    assert.equal(pems(s1.out.tlsData[BUNDLE_KEY]!).length, 2);
    assert.equal(s1.plan.issue.length, 0);
    assert.equal(s1.out.tlsData['demo-0.crt'], s0.tlsData['demo-0.crt']);
    const newCa = s1.out.caData[CA_KEYS.pendingCert]!;

    // Not before the bundle had time to reach every member.
    assert.equal(step(s1.out, t0 + 1000 + prop - 1, { rotateCa: 'x' }).plan.phase, 'trust-both');

    // 2. reissue: the new CA signs; every member reissued from it; both still trusted.
    const s2 = step(s1.out, t0 + 1000 + prop, { rotateCa: 'x' });
    assert.equal(s2.plan.phase, 'reissue');
    assert.equal(s2.out.caData[CA_KEYS.cert], newCa);
    assert.equal(s2.out.caData[CA_KEYS.previousCert], oldCa);
    assert.equal(s2.plan.issue.length, 3);
    assert.ok(memberCert(s2.out, 1).verify(new X509Certificate(newCa).publicKey));
    assert.equal(pems(s2.out.tlsData[BUNDLE_KEY]!).length, 2);

    // Members still serving old certificates: the old CA stays trusted, however long it takes.
    const t2 = t0 + 1000 + 2 * prop;
    assert.equal(step(s2.out, t2 + 10 * prop, { rotateCa: 'x', served: false }).plan.phase, 'reissue');

    // 3. drop-old once every member serves the new certificate.
    const s3 = step(s2.out, t2, { rotateCa: 'x', served: true });
    assert.equal(s3.plan.phase, 'drop-old');
    assert.deepEqual(pems(s3.out.tlsData[BUNDLE_KEY]!), [newCa]);
    assert.equal(s3.plan.issue.length, 0);

    // 4. stable again; the request is not carried out twice.
    const s4 = step(s3.out, t2 + prop, { rotateCa: 'x' });
    assert.equal(s4.plan.phase, 'stable');
    assert.equal(step(s4.out, t2 + 2 * prop, { rotateCa: 'x' }).plan.phase, 'stable');
  });

  void test('a CA Secret lost mid-way, or a key that does not parse, starts over with a new CA', () => {
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    const s0 = step(null, t0).out;
    const broken: PkiSecrets = { ...s0, caData: { ...s0.caData, [CA_KEYS.key]: 'garbage' } };
    const again = step(broken, t0 + 1000);
    assert.ok(again.plan.createCa);
    assert.equal(again.plan.issue.length, 3);
    assert.ok(memberCert(again.out, 0).verify(caOf(again.out).publicKey));
  });

  void test("the operator's client certificate: CN root, client only, follows creation, renewal, requests and a new CA", () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const opCert = (x: PkiSecrets) => new X509Certificate(x.caData[OPERATOR_CERT_KEYS.cert]!);
    const s0 = step(null, t0);
    assert.equal(s0.plan.issueOperator, 'missing');
    const c0 = opCert(s0.out);
    assert.match(c0.subject, /CN=root/);
    assert.ok(c0.verify(caOf(s0.out).publicKey));
    assert.equal(c0.keyUsage?.join(','), '1.3.6.1.5.5.7.3.2', 'client authentication only');
    assert.equal(s0.out.tlsData[OPERATOR_CERT_KEYS.cert], undefined, 'not in the Secret members mount');
    assert.ok(operatorIdentityOf(s0.out.caData)?.key.includes('PRIVATE KEY'));
    // Kept while young; the plan rechecks by its renewal time.
    const kept = step(s0.out, t0 + HOUR);
    assert.equal(kept.plan.issueOperator, null);
    assert.equal(kept.out.caData[OPERATOR_CERT_KEYS.cert], s0.out.caData[OPERATOR_CERT_KEYS.cert]);
    assert.equal(step(s0.out, t0 + 61 * 24 * HOUR).plan.issueOperator, 'renewal-due');
    assert.equal(step(s0.out, t0 + HOUR, { renew: 'now' }).plan.issueOperator, 'requested');
    // A CA rotation reissues it when the pending CA starts signing, like the members' certificates.
    const prop = settings.propagationMs;
    const s1 = step(s0.out, t0 + 1000, { rotateCa: 'x' });
    assert.equal(s1.plan.issueOperator, null, 'trust-both keeps it: both CAs are trusted');
    const s2 = step(s1.out, t0 + 1000 + prop, { rotateCa: 'x' });
    assert.equal(s2.plan.phase, 'reissue');
    assert.equal(s2.plan.issueOperator, 'new-ca');
    assert.ok(opCert(s2.out).verify(caOf(s2.out).publicKey));
    // One issued by someone else (or with another CN) is replaced.
    const foreign = {
      ...s0.out,
      caData: { ...s0.out.caData, [OPERATOR_CERT_KEYS.cert]: s0.out.tlsData['demo-0.crt']! },
    };
    assert.equal(step(foreign, t0 + HOUR).plan.issueOperator, 'wrong-names');
  });
});
