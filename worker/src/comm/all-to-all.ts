import type { Transport } from '@ringtrain/transport';
import { awaitExposed } from './comm-timer';
import type { WireBlock } from './wire';

/**
 * Every rank sends parts[j] to rank j and receives one block from each rank. parts[rank]
 * stays local. Returns the received blocks indexed by source rank.
 */
export async function allToAll(transport: Transport, tag: string, parts: readonly WireBlock[]): Promise<WireBlock[]> {
  const { rank, worldSize } = transport;
  if (parts.length !== worldSize) throw new Error(`allToAll needs ${worldSize} parts, got ${parts.length}`);
  const ops: Promise<unknown>[] = [];
  const received: Array<Promise<WireBlock>> = [];
  for (let j = 0; j < worldSize; j++) {
    if (j === rank) {
      received.push(Promise.resolve(parts[j]));
      continue;
    }
    ops.push(transport.send(j, { tag, tensors: parts[j] }));
    received.push(transport.recv(j, tag).then((m) => m.tensors));
  }
  const [, blocks] = await awaitExposed(Promise.all([Promise.all(ops), Promise.all(received)])); // nothing overlaps an all-to-all
  return blocks;
}
