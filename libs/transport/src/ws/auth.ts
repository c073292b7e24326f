import { createHash, timingSafeEqual } from 'node:crypto';

/** Request header that carries the job secret on every WebSocket upgrade. */
export const SECRET_HEADER = 'x-ringtrain-secret';

/**
 * A constant-time check of a presented secret. Both sides are hashed first so that
 * timingSafeEqual compares equal lengths and the secret's length does not leak either.
 */
export function secretChecker(secret: string): (presented: string | string[] | undefined) => boolean {
  const expected = digest(secret);
  return (presented) => typeof presented === 'string' && timingSafeEqual(digest(presented), expected);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
