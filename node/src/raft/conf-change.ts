import { ConfChangeType, type ConfChange } from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = JSON.parse(decoder.decode(data)) as Partial<ConfChange>;
  const validTypes: number[] = Object.values(ConfChangeType);
  if (
    typeof v.nodeId !== 'string' ||
    v.nodeId === '' ||
    typeof v.type !== 'number' ||
    !validTypes.includes(v.type)
  ) {
    throw new Error('raft: malformed conf change entry');
  }
  return { type: v.type, nodeId: v.nodeId, ...(typeof v.context === 'string' ? { context: v.context } : {}) };
}
