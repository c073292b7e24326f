/**
 * Exposed communication: the time this process spends awaiting the network once its compute
 * is done, i.e. the part of a transfer that compute did not hide. RingComm and allToAll add to
 * one accumulator per process; benchmarks reset it before a step and read it after.
 *
 * The wait also holds time spent on a slower peer (a rank idles until its neighbour has sent),
 * so on an unbalanced strategy it measures imbalance as well as the wire.
 */
let exposedMs = 0;

/** Awaits `pending` and adds the time waited to the process's exposed-communication total. */
export async function awaitExposed<T>(pending: Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await pending;
  } finally {
    exposedMs += performance.now() - t0;
  }
}

/** Milliseconds spent awaiting the network since the last reset. */
export function exposedCommMs(): number {
  return exposedMs;
}

export function resetExposedComm(): void {
  exposedMs = 0;
}
