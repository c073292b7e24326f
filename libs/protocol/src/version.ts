/**
 * Bumped on any change to the frames. Every frame's preamble carries it (frame.ts), and peers
 * and workers announce it in `hello` and `register`; a mismatch is refused instead of guessed at.
 * 3: a frame is a preamble, a msgpack header and 4-byte aligned payloads (was one msgpack map).
 */
export const PROTOCOL_VERSION = 3;
