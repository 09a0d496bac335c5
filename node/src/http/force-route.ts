// POST /v1/cluster/force-new-cluster {"requestId": "..."}: the first half of quorum-loss recovery
// (docs/adr/0077). Root only (every /v1/cluster/ route is). Refused while this member follows a
// leader or leads one (the cluster has a quorum: use the membership API), or when it is not a
// voter. Accepted: the request is written durably into the data directory and the process exits so
// that its supervisor restarts it; the next start carries the request out before Raft runs.
import type Router from '@koa/router';
import { kvError } from '../errors.ts';
import { noQuery, optionalString, readJsonObjectBody, type BodyTimeouts } from './request.ts';

export const FORCE_ROUTE = '/v1/cluster/force-new-cluster';
const BODY_LIMIT = 4096;

export interface ForceTarget {
  /** Refuses (throws a KvError) or records the request; resolves with what the member holds. */
  requestForce(requestId: string): Promise<{ member: string; lastIndex: number; commitIndex: number }>;
  /** Called once the answer is sent: stop the process so it restarts into the forced configuration. */
  afterAccepted(): void;
}

export function registerForceRoute(router: Router, target: ForceTarget, timeouts: BodyTimeouts): void {
  router.post(FORCE_ROUTE, async (ctx) => {
    noQuery(ctx);
    const body = await readJsonObjectBody(ctx, BODY_LIMIT, ['requestId'], { timeouts });
    const requestId = optionalString(body, 'requestId');
    if (requestId === undefined || !/^[A-Za-z0-9._:-]{1,128}$/.test(requestId))
      throw kvError('invalid-body', 'field "requestId" is required: 1-128 of A-Z a-z 0-9 . _ : -');
    const held = await target.requestForce(requestId);
    ctx.status = 202;
    ctx.body = { requestId, ...held, restarting: true };
    ctx.res.once('finish', () => target.afterAccepted());
  });
}
