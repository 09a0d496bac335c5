import { ConfChangeType, type ConfChange, type ConfState } from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A conf change as it sits in the log. The leader records the whole membership
 * the change results in (`after`), so a node that replays the log without
 * knowing the configuration it starts from (a new member with empty storage,
 * whose log begins at index 1 rather than at a snapshot) still ends up with
 * the right voters instead of applying deltas to an empty set.
 */
export interface LoggedConfChange extends ConfChange {
  after?: ConfState;
}

export function encodeConfChange(cc: LoggedConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(cc));
}

function isIdList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

export function decodeConfChange(data: Uint8Array): LoggedConfChange {
  const v = JSON.parse(decoder.decode(data)) as Partial<LoggedConfChange>;
  const validTypes: number[] = Object.values(ConfChangeType);
  if (
    typeof v.nodeId !== 'string' ||
    v.nodeId === '' ||
    typeof v.type !== 'number' ||
    !validTypes.includes(v.type)
  ) {
    throw new Error('raft: malformed conf change entry');
  }
  const after =
    v.after && isIdList(v.after.voters) && isIdList(v.after.learners)
      ? { voters: v.after.voters, learners: v.after.learners }
      : undefined;
  return {
    type: v.type,
    nodeId: v.nodeId,
    ...(typeof v.context === 'string' ? { context: v.context } : {}),
    ...(after ? { after } : {}),
  };
}
