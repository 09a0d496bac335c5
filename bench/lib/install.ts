// Makes sure the external tools the benchmark drives are present. They come from Debian's own
// packages so the run is reproducible on any Debian-based CI image without extra downloads.
import { spawnSync } from 'node:child_process';

/** Debian package providing each command we need. */
const PACKAGE_FOR_COMMAND: Readonly<Record<string, string>> = {
  etcd: 'etcd-server',
  etcdctl: 'etcd-client',
  wrk: 'wrk',
};

export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function runLoud(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed with exit code ${String(result.status)}`);
  }
}

/**
 * Installs the missing tools with apt-get (as root, or through sudo when available) and says so.
 * Throws when a tool is still missing afterwards.
 */
export function ensureTools(commands: readonly string[], log: (line: string) => void): void {
  const missing = commands.filter((command) => !commandExists(command));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((command) => PACKAGE_FOR_COMMAND[command] ?? command))];
  log(`bench: installing missing tools with apt-get: ${packages.join(', ')} (for ${missing.join(', ')})`);
  const isRoot = process.getuid?.() === 0;
  const prefix = isRoot ? [] : ['sudo', '-n'];
  const apt = (args: string[]): void => {
    const [head, ...rest] = [...prefix, 'apt-get', ...args];
    runLoud(head!, rest);
  };
  apt(['update']);
  // --no-install-recommends keeps the image small; policy-rc.d style auto-start of the packaged
  // etcd service is harmless: we use non-default ports.
  apt(['install', '-y', '--no-install-recommends', ...packages]);
  const stillMissing = commands.filter((command) => !commandExists(command));
  if (stillMissing.length > 0)
    throw new Error(`still missing after apt-get install: ${stillMissing.join(', ')}`);
}

/** First line of `<command> --version`-like output, for the results file. */
export function toolVersion(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  return text.split('\n').slice(0, 2).join(' ').trim();
}
