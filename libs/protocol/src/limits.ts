/**
 * Bounds on what a decoded frame may contain. They are part of the protocol (both ends must
 * agree), so they live here rather than in per-deployment transport options; the byte size of a
 * whole frame is a transport option (`maxFrameBytes`).
 */
export interface FrameLimits {
  /** Longest `tag` of a data frame, in UTF-16 code units. Default 256. */
  readonly maxTagChars: number;
  /** Longest identifier: tensor names, meta keys, job ids, job kinds, error codes, hosts. Default 256. */
  readonly maxNameChars: number;
  /** Longest free text: error messages, shutdown reasons, meta and params strings. Default 65536. */
  readonly maxTextChars: number;
  /** Most tensors in one frame. Default 64. */
  readonly maxTensors: number;
  /** Most dimensions of one tensor. Default 8. */
  readonly maxDims: number;
  /** Most entries in a `meta` map. Default 64. */
  readonly maxMetaEntries: number;
  /** Largest world size a frame may describe. Default 65536. */
  readonly maxWorldSize: number;
  /** Deepest nesting of job `params`. Default 32. */
  readonly maxParamsDepth: number;
  /** Most tensors announced for one bulk stream (parameters, gradients, optimizer state). Default 1,000,000. */
  readonly maxBulkTensors: number;
  /** Most bytes one bulk stream may announce. Default 1 TiB. */
  readonly maxBulkBytes: number;
}

export const DEFAULT_FRAME_LIMITS: FrameLimits = Object.freeze({
  maxTagChars: 256,
  maxNameChars: 256,
  maxTextChars: 65536,
  maxTensors: 64,
  maxDims: 8,
  maxMetaEntries: 64,
  maxWorldSize: 65536,
  maxParamsDepth: 32,
  maxBulkTensors: 1_000_000,
  maxBulkBytes: 2 ** 40,
});
