// What a member whose data failed its checks serves (docs/adr/0077): its status, saying why
// (`dataState` "corrupt" or "lost" with `dataReason`), its metrics (`kvstore_data_corrupt` 1), a
// live /livez (restarting would not heal the data) and a failing /readyz; every other request gets
// 503 `data-unusable`. Raft never runs, so the member neither serves, votes nor replicates from
// data it cannot trust, and the operator can read why and replace it.
import Koa from 'koa';
import { kvError } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import type { KvApp } from './app.ts';
import type { DataState, NodeStatus } from './service.ts';

export interface DegradedInfo {
  id: string;
  /** The cluster id the data said, when it could be read. */
  clusterId: string;
  dataState: Exclude<DataState, 'ok'>;
  dataReason: string;
}

export function degradedStatus(info: DegradedInfo): NodeStatus {
  return {
    id: info.id,
    clusterId: info.clusterId,
    state: 'follower',
    leader: null,
    term: 0,
    commitIndex: 0,
    appliedIndex: 0,
    lastIndex: 0,
    lastLogTerm: 0,
    dataState: info.dataState,
    dataReason: info.dataReason,
    members: [],
  };
}

export function createDegradedApp(info: DegradedInfo, metrics: Metrics): KvApp {
  const app = new Koa() as KvApp;
  Object.defineProperty(app, 'closing', { value: new AbortController() });
  metrics.dataCorrupt.set(1);
  const unusable = () =>
    kvError(
      'data-unusable',
      `member ${info.id} does not serve: its data is ${info.dataState}: ${info.dataReason}`,
    );
  app.use(async (ctx) => {
    const get = ctx.method === 'GET' || ctx.method === 'HEAD';
    if (get && ctx.path === '/v1/status') {
      ctx.body = degradedStatus(info);
    } else if (get && ctx.path === '/metrics') {
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
    } else if (get && ctx.path === '/livez') {
      ctx.body = { status: 'ok' };
    } else {
      const e = unusable();
      ctx.status = e.status;
      for (const [k, v] of Object.entries(e.headers ?? {})) ctx.set(k, v);
      ctx.body =
        get && ctx.path === '/readyz'
          ? { ...e.toJSON(), ready: false, checks: [{ name: 'data', ok: false, message: info.dataReason }] }
          : e.toJSON();
    }
  });
  return app;
}
