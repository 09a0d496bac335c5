// Fixed bench ports, moved by KVSTORE_BENCH_PORT_OFFSET so two bench runs on one machine (parallel
// sessions) do not collide: every cluster's client and peer ports are shifted by the offset.
export function benchPortOffset(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.KVSTORE_BENCH_PORT_OFFSET;
  if (text === undefined || text === '') return 0;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 30_000)
    throw new Error(`KVSTORE_BENCH_PORT_OFFSET must be an integer 0..30000, not ${JSON.stringify(text)}`);
  return n;
}
