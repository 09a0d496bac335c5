// npm run chaos -- --nemesis all --seconds 60 --nodes 5
import { logLine, parseOptions, UsageError } from './options.ts';
import { runChaos } from './runner/run.ts';

try {
  const options = parseOptions(process.argv.slice(2), logLine);
  const summary = await runChaos(options);
  process.stdout.write(`${summary.text}\n`);
  process.exitCode = summary.ok ? 0 : 1;
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 2;
  } else throw err;
}
