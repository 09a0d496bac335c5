import type { NodeId } from './types.ts';
import type { Storage } from './storage.ts';

export interface RaftConfig {
  id: NodeId;
  storage: Storage;
  /** Ticks without hearing from a leader before a follower campaigns (randomised up to 2×). */
  electionTick: number;
  /** Ticks between leader heartbeats; must be well below electionTick. */
  heartbeatTick: number;
  /** Last index the application has applied (on restart). */
  applied: number;
  /** Max payload bytes in one AppendEntries message. */
  maxSizePerMsg: number;
  /** Max AppendEntries in flight to one follower in replicate state. */
  maxInflightMsgs: number;
  /** Proposals are refused once the uncommitted tail of the leader's log exceeds this many bytes. */
  maxUncommittedEntriesSize: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Source of randomness in [0, 1) for election jitter; seeded in tests. */
  random: () => number;
}

export function defaultConfig(id: NodeId, storage: Storage, random: () => number): RaftConfig {
  return {
    id,
    storage,
    electionTick: 10,
    heartbeatTick: 1,
    applied: 0,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 256,
    maxUncommittedEntriesSize: 64 * 1024 * 1024,
    preVote: true,
    checkQuorum: true,
    random,
  };
}

export function validateConfig(c: RaftConfig): void {
  if (c.id === '') throw new Error('raft: node id must not be empty');
  if (c.heartbeatTick <= 0) throw new Error('raft: heartbeatTick must be greater than 0');
  if (c.electionTick <= c.heartbeatTick)
    throw new Error('raft: electionTick must be greater than heartbeatTick');
  if (c.maxInflightMsgs <= 0) throw new Error('raft: maxInflightMsgs must be greater than 0');
}

/** A small, fast, seedable PRNG (mulberry32) for election jitter and simulations. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
