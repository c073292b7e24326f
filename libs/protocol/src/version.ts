/**
 * Bumped on any change to the frames below. Peers and workers announce it in `hello` and
 * `register`; a mismatch is refused instead of guessed at.
 */
export const PROTOCOL_VERSION = 2;
