// The kvctl process: parse the command line, run the command, leave with its exit code
// (errors.ts). Ctrl-C ends a watch cleanly (exit 0) and any other command with 130.
import { parseArgs } from './args.ts';
import { runCommand } from './commands.ts';
import { CliError, errorLine, UsageError } from './errors.ts';

// `kvctl get --prefix x | head` closes stdout early: stop quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const interrupted = new AbortController();
let watching = false;
const onSignal = (signal: NodeJS.Signals): void => {
  if (!watching || interrupted.signal.aborted) process.exit(signal === 'SIGINT' ? 130 : 143);
  interrupted.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

try {
  const inv = parseArgs(process.argv.slice(2), process.env);
  watching = inv.command.name === 'watch';
  process.exitCode = await runCommand(inv, {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    signal: interrupted.signal,
  });
} catch (e) {
  if (!(e instanceof CliError)) throw e;
  process.stderr.write(`${errorLine(e)}\n`);
  if (e instanceof UsageError)
    process.stderr.write(`Run 'kvctl${e.topic === undefined ? '' : ` ${e.topic}`} --help' for usage.\n`);
  process.exitCode = e.exitCode;
}
