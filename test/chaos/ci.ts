// npm run chaos:ci -- [--fake] [any chaos option]: every nemesis briefly on a
// 3-node cluster, a few minutes in total; fails if any run is not linearizable.
import { logLine, parseOptions, USAGE, UsageError } from './options.ts';
import { runChaos } from './runner/run.ts';
import type { NemesisName } from './runner/nemesis.ts';

const CI_NEMESES: NemesisName[] = ['kill', 'pause', 'partition', 'member', 'all'];

try {
  const base = parseOptions(['--nodes', '3', '--seconds', '30', ...process.argv.slice(2)], logLine);
  const nemeses = CI_NEMESES.filter((n) => base.net === 'netns' || n !== 'partition');
  const results: string[] = [];
  let failed = false;
  for (const nemesis of nemeses) {
    const summary = await runChaos({ ...base, nemesis, seed: base.seed + nemeses.indexOf(nemesis) });
    process.stdout.write(`--- ${nemesis}\n${summary.text}\n`);
    results.push(
      `${nemesis.padEnd(10)} ${summary.verdict.padEnd(13)} ops ${summary.ops}, acked writes ${summary.ackedWrites}, faults ${summary.faultTotal}`,
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
