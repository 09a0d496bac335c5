// The kvctl process: parse the command line, run the command, leave with its exit code
// (errors.ts). Ctrl-C ends a watch cleanly (exit 0) and any other command with 130.
import { parseArgs } from './args.ts';
import { BACKUP_COMMANDS, runBackupCommand } from './backup-commands.ts';
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
  const argv = process.argv.slice(2);
  // snapshot and restore take files and data directories, not keys: their own parser (backup-commands.ts).
  const at = firstPositionalAt(argv);
  if (at >= 0 && BACKUP_COMMANDS.has(argv[at]!)) {
    process.exitCode = await runBackupCommand(argv, process.env, {
      out: (text) => void process.stdout.write(text),
      err: (text) => void process.stderr.write(text),
      signal: interrupted.signal,
    });
  } else {
    const inv = parseArgs(argv, process.env);
    watching = inv.command.name === 'watch';
    process.exitCode = await runCommand(inv, {
      out: (text) => void process.stdout.write(text),
      err: (text) => void process.stderr.write(text),
      signal: interrupted.signal,
    });
  }
} catch (e) {
  if (!(e instanceof CliError)) throw e;
  process.stderr.write(`${errorLine(e)}\n`);
  if (e instanceof UsageError)
    process.stderr.write(`Run 'kvctl${e.topic === undefined ? '' : ` ${e.topic}`} --help' for usage.\n`);
  process.exitCode = e.exitCode;
}

/** Index of the first positional argument: options with a value (`--endpoints URL`) skip their value. */
function firstPositionalAt(argv: string[]): number {
  const withValue = new Set([
    '--endpoints',
    '-o',
    '--output',
    '--timeout',
    '--request-timeout',
    '--token',
    '--cacert',
    '--cert',
    '--key',
    '--user',
    '--password',
  ]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (withValue.has(a)) i++;
    else if (!a.startsWith('-')) return i;
  }
  return -1;
}
