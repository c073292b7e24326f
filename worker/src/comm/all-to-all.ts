import { PHASE, SPAN, type PhaseCode } from '@ringtrain/protocol';
import type { Transport } from '@ringtrain/transport';
import { traceTransfer } from '../trace/tracer';
import { peerRank } from './axis-transport';
import { awaitExposed } from './comm-timer';
import type { WireBlock } from './wire';

/**
 * Every rank sends parts[j] to rank j and receives one block from each rank. parts[rank]
 * stays local. Returns the received blocks indexed by source rank. `phase` and `layer` label a
 * traced step's spans (trace/tracer.ts).
 */
export async function allToAll(transport: Transport, tag: string, parts: readonly WireBlock[], phase: PhaseCode = PHASE.none, layer = -1): Promise<WireBlock[]> {
  const { rank, worldSize } = transport;
  if (parts.length !== worldSize) throw new Error(`allToAll needs ${worldSize} parts, got ${parts.length}`);
  const ops: Promise<unknown>[] = [];
  const received: Array<Promise<WireBlock>> = [];
  for (let j = 0; j < worldSize; j++) {
    if (j === rank) {
      received.push(Promise.resolve(parts[j]));
      continue;
    }
    ops.push(traceTransfer(transport.send(j, { tag, tensors: parts[j] }), SPAN.sendAllToAll, phase, layer, -1, peerRank(transport, j)));
    received.push(traceTransfer(transport.recv(j, tag), SPAN.recvAllToAll, phase, layer, -1, peerRank(transport, j)).then((m) => m.tensors));
  }
  const [, blocks] = await awaitExposed(Promise.all([Promise.all(ops), Promise.all(received)]), phase, layer); // nothing overlaps an all-to-all
  return blocks;
}
