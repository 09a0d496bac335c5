// npm run chaos:ci -- [--fake] [--plain-all-nemeses] [any chaos option]: every nemesis briefly on a
// 3-node cluster with TLS (client and peer mTLS) and auth on, then the `all` nemesis once in
// plain text (the quick-start layout keeps its own transport path covered); fails if any run is
// not linearizable. --fake runs the plain fixture only (it has no TLS).
// Why secure for every nemesis and plain once: secure is what Kubernetes runs by default and its
// paths (TLS reconnects after kill and partition, certificate identity of replaced members,
// per-request auth) are a superset of the faults' interesting interleavings; the plain transport
// differs only below TLS, which the mixed `all` run covers. This adds one 30 s run to CI.
import { logLine, parseOptions, USAGE, UsageError } from './options.ts';
import { runChaos } from './runner/run.ts';
import type { NemesisName } from './runner/nemesis.ts';

const CI_NEMESES: NemesisName[] = ['kill', 'pause', 'partition', 'member', 'all'];

try {
  const args = process.argv.slice(2);
  const plainEverywhere = args.includes('--plain-all-nemeses');
  const base = parseOptions(
    ['--nodes', '3', '--seconds', '30', ...args.filter((a) => a !== '--plain-all-nemeses')],
    logLine,
  );
  const fake = base.script.endsWith('fake-kv.ts');
  const nemeses = CI_NEMESES.filter((n) => base.net === 'netns' || n !== 'partition');
  const runs: { nemesis: NemesisName; secure: boolean }[] = fake
    ? nemeses.map((nemesis) => ({ nemesis, secure: false }))
    : [
        ...nemeses.map((nemesis) => ({ nemesis, secure: true })),
        ...(plainEverywhere ? nemeses : (['all'] as NemesisName[])).map((nemesis) => ({
          nemesis,
          secure: false,
        })),
      ];
  const results: string[] = [];
  let failed = false;
  for (const [i, run] of runs.entries()) {
    const summary = await runChaos({ ...base, ...run, seed: base.seed + i });
    const label = `${run.nemesis}${run.secure ? ' (tls+auth)' : ' (plain)'}`;
    process.stdout.write(`--- ${label}\n${summary.text}\n`);
    results.push(
      `${label.padEnd(22)} ${summary.verdict.padEnd(13)} ops ${summary.ops}, acked writes ${summary.ackedWrites}, faults ${summary.faultTotal}`,
    );
    failed ||= !summary.ok;
  }
  process.stdout.write(`=== chaos:ci\n${results.join('\n')}\nchaos:ci: ${failed ? 'FAILED' : 'passed'}\n`);
  process.exitCode = failed ? 1 : 0;
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = err.message === USAGE ? 0 : 2;
  } else throw err;
}
