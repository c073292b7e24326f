import { evenSplit } from '@ringtrain/layout';
import type { Transport } from '@ringtrain/transport';

/**
 * Sum `data` over all ranks, in place: ring reduce-scatter then all-gather (2·(P-1) steps,
 * each rank sends 2·(P-1)/P of the buffer). Chunk c is summed at one rank in one fixed order
 * and then copied everywhere, so every rank ends with bit-identical values — replicated
 * parameters stay identical after identical optimizer updates.
 */
export async function ringAllReduce(transport: Transport, tag: string, data: Float32Array): Promise<void> {
  const { rank, worldSize: P } = transport;
  if (P === 1) return;
  const sizes = evenSplit(data.length, P);
  const starts: number[] = [];
  let s = 0;
  for (const n of sizes) {
    starts.push(s);
    s += n;
  }
  const chunk = (c: number) => data.subarray(starts[c], starts[c] + sizes[c]);
  const next = (rank + 1) % P;
  const prev = (rank - 1 + P) % P;
  const mod = (x: number) => ((x % P) + P) % P;

  for (let step = 0; step < P - 1; step++) {
    const t = `${tag}.rs.${step}`;
    const out = chunk(mod(rank - step));
    const [, msg] = await Promise.all([
      transport.send(next, { tag: t, tensors: { g: { dtype: 'float32', shape: [out.length], data: out } } }),
      transport.recv(prev, t),
    ]);
    const into = chunk(mod(rank - step - 1));
    const add = msg.tensors.g.data;
    for (let i = 0; i < into.length; i++) into[i] += add[i];
  }
  for (let step = 0; step < P - 1; step++) {
    const t = `${tag}.ag.${step}`;
    const out = chunk(mod(rank + 1 - step));
    const [, msg] = await Promise.all([
      transport.send(next, { tag: t, tensors: { g: { dtype: 'float32', shape: [out.length], data: out } } }),
      transport.recv(prev, t),
    ]);
    chunk(mod(rank - step)).set(msg.tensors.g.data as Float32Array);
  }
}

/**
 * All-reduces a group of named gradients as one bucket (one flat buffer, fewer messages) and
 * writes the sums back into the same arrays.
 */
export async function allReduceBucket(transport: Transport, tag: string, grads: ReadonlyMap<string, Float32Array>): Promise<void> {
  if (transport.worldSize === 1) return;
  const names = [...grads.keys()].sort();
  const total = names.reduce((a, n) => a + grads.get(n)!.length, 0);
  const flat = new Float32Array(total);
  let o = 0;
  for (const n of names) {
    flat.set(grads.get(n)!, o);
    o += grads.get(n)!.length;
  }
  await ringAllReduce(transport, tag, flat);
  o = 0;
  for (const n of names) {
    const g = grads.get(n)!;
    g.set(flat.subarray(o, o + g.length));
    o += g.length;
  }
}
