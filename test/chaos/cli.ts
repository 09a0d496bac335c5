// npm run chaos -- --nemesis all --seconds 60 --nodes 5
// npm run chaos -- --check /tmp/kvchaos-XXXX/history.json   (re-check a saved history)
import { readFileSync } from 'node:fs';
import type { Operation } from './checker/history.ts';
import { checkHistory } from './checker/linearizability.ts';
import { explainViolation } from './checker/timeline.ts';
import { logLine, parseOptions, USAGE, UsageError } from './options.ts';
import { runChaos } from './runner/run.ts';

function recheck(file: string): number {
  const history = JSON.parse(readFileSync(file, 'utf8'), (_k, v: unknown) =>
    v === 'inf' ? Infinity : v,
  ) as Operation[];
  const result = checkHistory(history, { timeoutMs: 120_000 });
  const bad = result.keys
    .filter((k) => k.verdict === 'violation')
    .sort((a, b) => a.ops.length - b.ops.length);
  if (bad[0]) process.stdout.write(`${explainViolation(bad[0])}\n`);
  for (const k of result.keys.filter((k) => k.verdict === 'unknown'))
    process.stdout.write(`key ${k.key}: undecided (${k.reason})\n`);
  process.stdout.write(
    `${history.length} ops, ${result.keys.length} keys\nchaos: ${result.verdict === 'ok' ? 'linearizable' : result.verdict === 'violation' ? 'VIOLATION' : 'UNKNOWN'}\n`,
  );
  return result.verdict === 'ok' ? 0 : 1;
}

try {
  const argv = process.argv.slice(2);
  const checkAt = argv.indexOf('--check');
  if (checkAt >= 0) {
    const file = argv[checkAt + 1];
    if (!file) throw new UsageError('--check needs a history.json path');
    process.exitCode = recheck(file);
  } else {
    const summary = await runChaos(parseOptions(argv, logLine));
    process.stdout.write(`${summary.text}\n`);
    process.exitCode = summary.ok ? 0 : 1;
  }
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = err.message === USAGE ? 0 : 2;
  } else throw err;
}
