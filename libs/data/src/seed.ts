import { SeededRandom } from '@ringtrain/core';

/**
 * One 32-bit seed from several integers (seed, epoch, split, index, …). A plain sum would
 * collide (seed 1 epoch 0 = seed 0 epoch 1); this mixes every part through a murmur3-style
 * finaliser so nearby inputs give unrelated streams.
 */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    // Fold numbers beyond 32 bits in as two words so large seeds stay distinct.
    const lo = part >>> 0;
    const hi = Math.floor(part / 4294967296) >>> 0;
    h = fmix(h ^ fmix(lo + 0x85ebca6b));
    h = fmix(h ^ fmix(hi + 0xc2b2ae35));
  }
  return h >>> 0;
}

function fmix(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniformly shuffled 0..n-1 (Fisher–Yates), the same for the same seed on every machine. */
export function seededPermutation(n: number, seed: number): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const rng = new SeededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** An integer drawn log-uniformly from [lo, hi] (rounded): short and long values alike common. */
export function logUniformInt(rng: SeededRandom, lo: number, hi: number): number {
  const a = Math.log(lo);
  const b = Math.log(Math.max(lo, hi));
  return Math.round(Math.exp(a + (b - a) * rng.next()));
}
