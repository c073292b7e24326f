import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * A check of a presented secret against the job secret that takes the same time whatever is
 * presented: both are hashed first, so timingSafeEqual compares equal lengths and the secret's
 * length does not leak either.
 */
export function secretCheck(secret: string): (presented: unknown) => boolean {
  const expected = digest(secret);
  return (presented) => typeof presented === 'string' && presented.length > 0 && timingSafeEqual(digest(presented), expected);
}
