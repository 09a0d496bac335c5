// Checks snapshot data received from a peer before the node accepts it: it must decode
// completely with the state machine's own decoder (checksum, every record, nothing after the
// last one) and hold the state as of the index its metadata claims. The transport runs this
// before the snapshot reaches Raft, so a bad one is never persisted and never replaces anything.
import type { SnapshotMetadata } from '../raft/types.ts';
import { decodeSnapshotSteps, runAsync } from './snapshot-codec.ts';

export async function verifyReceivedSnapshot(data: Uint8Array, metadata: SnapshotMetadata): Promise<void> {
  // In slices: a large snapshot must not stall heartbeats while it is checked.
  const content = await runAsync(decodeSnapshotSteps(data));
  if (content.appliedIndex !== metadata.index) {
    throw new Error(
      `snapshot data is at index ${content.appliedIndex}, its metadata claims ${metadata.index}`,
    );
  }
}
