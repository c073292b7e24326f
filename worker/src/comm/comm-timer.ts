import { PHASE, SPAN, type PhaseCode } from '@ringtrain/protocol';
import { spanEnd, spanStart } from '../trace/tracer';

/**
 * Exposed communication: the time this process spends awaiting the network once its compute
 * is done, i.e. the part of a transfer that compute did not hide. RingComm and allToAll add to
 * one accumulator per process; benchmarks reset it before a step and read it after.
 *
 * The wait also holds time spent on a slower peer (a rank idles until its neighbour has sent),
 * so on an unbalanced strategy it measures imbalance as well as the wire.
 */
let exposedMs = 0;

/**
 * Awaits `pending` and adds the time waited to the process's exposed-communication total; on a
 * traced step the wait is also a `wait` span of this layer, phase, ring hop and peer.
 */
export async function awaitExposed<T>(pending: Promise<T>, phase: PhaseCode = PHASE.none, layer = -1, hop = -1, peer = -1): Promise<T> {
  const t0 = performance.now();
  const span = spanStart();
  try {
    return await pending;
  } finally {
    exposedMs += performance.now() - t0;
    spanEnd(SPAN.wait, span, phase, layer, hop, peer);
  }
}

/** Milliseconds spent awaiting the network since the last reset. */
export function exposedCommMs(): number {
  return exposedMs;
}

export function resetExposedComm(): void {
  exposedMs = 0;
}
