// kvctl's commands: each turns an Invocation into requests (API.md / README "HTTP API") and
// prints the answer in the chosen format. Failures are thrown as CliError (errors.ts).
import { credentialsOf, loadTls } from './security.ts';
import type { MemberInfo, NodeStatus } from '../http/service.ts';
import type { KeyValue } from '../kv/types.ts';
import { helpText, type Command, type Invocation, type OutputFormat } from './args.ts';
import { Client, kvPath } from './client.ts';
import { CliError, EXIT, UnreachableError, type ExitCode } from './errors.ts';
import {
  eventJson,
  eventLine,
  json,
  keysTable,
  kvPairs,
  kvTable,
  lines,
  membersTable,
  statusTable,
  table,
  type StatusRow,
} from './format.ts';
import { runWatch } from './watch.ts';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Ends watch (Ctrl-C). */
  signal: AbortSignal;
}

type Members = { leader: string | null; members: MemberInfo[] };

/** Runs one command; resolves with its exit code (0, or 1/3 for status's partial failures). */
export async function runCommand(inv: Invocation, io: Io): Promise<ExitCode> {
  const { command: cmd, global: g } = inv;
  if (cmd.name === 'help') {
    io.out(helpText(cmd.topic));
    return EXIT.ok;
  }
  const credentials = credentialsOf(g.security);
  const client = new Client({
    endpoints: g.endpoints,
    timeoutMs: g.timeoutMs,
    requestTimeoutMs: g.requestTimeoutMs,
    tls: await loadTls(g.security),
    ...(credentials !== undefined ? { credentials } : {}),
  });
  const format = (fallback: OutputFormat): OutputFormat => g.output ?? fallback;
  switch (cmd.name) {
    case 'get':
      await get(client, cmd, format('simple'), io);
      return EXIT.ok;
    case 'put': {
      const r = await client.request({
        method: 'PUT',
        path: kvPath(cmd.key),
        query: { cas: cmd.cas },
        body: cmd.ttl === undefined ? { value: cmd.value } : { value: cmd.value, ttl: cmd.ttl },
      });
      const kv = r.body as KeyValue;
      const f = format('simple');
      io.out(f === 'json' ? json(kv) : f === 'table' ? kvTable([kv]) : 'OK\n');
      return EXIT.ok;
    }
    case 'del': {
      const r = await client.request({
        method: 'DELETE',
        path: kvPath(cmd.key),
        query: { cas: cmd.cas, recurse: cmd.prefix ? true : undefined },
      });
      const body = r.body as { deleted: boolean; count?: number };
      const count = body.count ?? (body.deleted ? 1 : 0);
      const f = format('simple');
      io.out(
        f === 'json' ? json(body) : f === 'table' ? table(['DELETED'], [[String(count)]]) : `${count}\n`,
      );
      return EXIT.ok;
    }
    case 'watch': {
      const f = format('simple');
      await runWatch(
        client,
        kvPath(cmd.key),
        cmd,
        {
          event: (e) => io.out(f === 'json' ? eventJson(e) : eventLine(e)),
          warn: (m) => io.err(`kvctl: warning: ${m}\n`),
        },
        io.signal,
      );
      return EXIT.ok;
    }
    case 'member list': {
      const m = (await client.request({ method: 'GET', path: '/v1/cluster/members' })).body as Members;
      io.out(
        format('table') === 'json'
          ? json(m)
          : format('table') === 'table'
            ? membersTable(m)
            : lines(m.members.map((x) => x.id)),
      );
      return EXIT.ok;
    }
    case 'member add': {
      const body = {
        id: cmd.id,
        peerUrl: cmd.peerUrl,
        role: 'learner',
        ...(cmd.clientUrl !== undefined ? { clientUrl: cmd.clientUrl } : {}),
      };
      const m = (await client.request({ method: 'POST', path: '/v1/cluster/members', body }))
        .body as MemberInfo;
      const f = format('simple');
      io.out(
        f === 'json'
          ? json(m)
          : f === 'table'
            ? membersTable({ leader: null, members: [m] })
            : `added ${m.id} as a ${m.role}\n`,
      );
      return EXIT.ok;
    }
    case 'member promote':
    case 'member remove': {
      const promote = cmd.name === 'member promote';
      const path = `/v1/cluster/members/${encodeURIComponent(cmd.id)}${promote ? '/promote' : ''}`;
      const r = await client.request({ method: promote ? 'POST' : 'DELETE', path });
      const f = format('simple');
      io.out(f === 'json' ? json(r.body) : `${promote ? 'promoted' : 'removed'} ${cmd.id}\n`);
      return EXIT.ok;
    }
    case 'move-leader': {
      const r = await client.request({
        method: 'POST',
        path: '/v1/cluster/leader',
        body: cmd.to === undefined ? {} : { to: cmd.to },
      });
      const body = r.body as { leader: string };
      const f = format('simple');
      io.out(
        f === 'json' ? json(body) : f === 'table' ? table(['LEADER'], [[body.leader]]) : `${body.leader}\n`,
      );
      return EXIT.ok;
    }
    case 'status':
      return status(client, format('table'), io);
  }
}

async function get(
  client: Client,
  cmd: Extract<Command, { name: 'get' }>,
  f: OutputFormat,
  io: Io,
): Promise<void> {
  const consistency = cmd.consistency === 'stale' ? 'stale' : undefined;
  if (!cmd.prefix) {
    const kv = (await client.request({ method: 'GET', path: kvPath(cmd.key), query: { consistency } }))
      .body as KeyValue;
    if (cmd.keysOnly)
      io.out(f === 'json' ? json({ key: kv.key }) : f === 'table' ? keysTable([kv.key]) : `${kv.key}\n`);
    else io.out(f === 'json' ? json(kv) : f === 'table' ? kvTable([kv]) : `${kv.value}\n`);
    return;
  }
  const r = await client.request({
    method: 'GET',
    path: kvPath(cmd.key),
    query: { [cmd.keysOnly ? 'keys' : 'recurse']: true, limit: cmd.limit, consistency },
  });
  const body = r.body as { items: KeyValue[] | string[]; more: boolean };
  if (f === 'json') io.out(json(body));
  else if (cmd.keysOnly) {
    const keys = body.items as string[];
    io.out(f === 'table' ? keysTable(keys) : lines(keys));
  } else {
    const items = body.items as KeyValue[];
    io.out(f === 'table' ? kvTable(items) : kvPairs(items));
  }
  if (body.more && f !== 'json') {
    io.err(
      `kvctl: warning: more keys under the prefix than shown (limit ${cmd.limit ?? "the server's default"}; --limit raises it)\n`,
    );
  }
}

async function status(client: Client, f: OutputFormat, io: Io): Promise<ExitCode> {
  const rows: StatusRow[] = [];
  const failures: CliError[] = [];
  await Promise.all(
    client.endpoints.map(async (endpoint, i) => {
      try {
        const r = await client.requestOne(endpoint, { method: 'GET', path: '/v1/status' });
        rows[i] = { endpoint, status: r.body as NodeStatus };
      } catch (e) {
        if (!(e instanceof CliError)) throw e;
        failures[i] = e;
        rows[i] = { endpoint, error: { code: e.code, message: e.message } };
      }
    }),
  );
  io.out(
    f === 'json'
      ? json(rows)
      : f === 'table'
        ? statusTable(rows)
        : lines(
            rows.map((r) =>
              'status' in r ? `${r.endpoint} ${r.status.state}` : `${r.endpoint} ${r.error.code}`,
            ),
          ),
  );
  const failed = failures.filter((e) => e !== undefined);
  for (const e of failed) io.err(`kvctl: ${e.code}: ${e.message}\n`);
  if (failed.some((e) => e instanceof UnreachableError)) return EXIT.unreachable;
  return failed.length > 0 ? EXIT.server : EXIT.ok;
}
