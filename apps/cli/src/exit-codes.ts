import { isRingtrainError } from '@ringtrain/core';

/**
 * The exit codes of `ringtrain` (README "Exit codes"): whether to fix the command (2), look at
 * what went wrong while it ran (3), or report a bug (1).
 */
export const EXIT = Object.freeze({
  ok: 0,
  /** A bug: anything that is not a RingtrainError; the stack is printed. */
  internal: 1,
  /** Refused before anything started: options, config, input files, the run directory, sizes that will not fit. */
  refused: 2,
  /** Failed after it started: a worker or the coordinator died or hung, a step timed out, the disk filled, a check found errors. */
  failed: 3,
  /** Stopped at once by a second stop signal. */
  interrupted: 130,
});

/**
 * Codes that only arise once processes run (lost, hung or failing workers and connections,
 * training that went wrong): a failure after the start wherever it is raised, also in the
 * `coordinator` and `worker` processes themselves.
 */
const RUNTIME_CODES: ReadonlySet<string> = new Set([
  'TRAINING_FAILED', 'WORKER_EXITED', 'WORKER_LOST', 'WORKER_ERROR', 'JOB_TIMEOUT', 'JOB_ABANDONED',
  'RENDEZVOUS_TIMEOUT', 'MESH_TIMEOUT', 'HELLO_TIMEOUT', 'CONNECT_TIMEOUT', 'CONNECT_FAILED', 'CONNECT_ABORTED',
  'CONNECTION_CLOSED', 'PEER_DEAD', 'PEER_CLOSED', 'TRANSPORT_CLOSED', 'LINK_FAILED', 'HANDLER_FAILED', 'MAILBOX_FULL',
  'REPLICA_DIVERGED', 'LOSS_NOT_FINITE', 'CHECKPOINT_WRITE_FAILED', 'OUT_OF_MEMORY',
]);

/** Codes a run's processes raise over what they were asked to do, not over what happened to them. */
const OPTION_FAULTS: ReadonlySet<string> = new Set(['DEVICE_BUFFER_LIMIT', 'WONT_FIT', 'ULYSSES_HEADS', 'ULYSSES_KV_HEADS', 'BAD_MODEL', 'BAD_CONFIG', 'PASSKEY_SEQ_TOO_SHORT']);

const failedAfterStart = new WeakSet<object>();

/**
 * Marks an error as raised after the command's processes started (exit 3), whatever its code:
 * a RUN_DIR_UNUSABLE while training (the disk filled) is a runtime failure, the same code before
 * the start is a refusal. Returns the error, to be thrown.
 */
export function afterStart<E>(err: E): E {
  if (isRingtrainError(err)) failedAfterStart.add(err);
  return err;
}

/** Runs the part of a command that has started processes: its coded errors exit 3. */
export async function started<T>(run: Promise<T>): Promise<T> {
  try {
    return await run;
  } catch (err) {
    throw afterStart(err);
  }
}

/** The exit code of an error that ended a command. */
export function exitCodeOf(err: unknown): number {
  if (!isRingtrainError(err)) return EXIT.internal;
  // A worker that exited 2 refused what it was given (`--backend webgpu` on a machine without
  // Vulkan): the command's options are at fault, as they would be had it refused them itself.
  if (err.code === 'WORKER_EXITED' && err.details?.code === EXIT.refused) return EXIT.refused;
  // Training that stopped at its first step over what it was asked (a tensor over the GPU's
  // per-buffer limit, a model the strategy cannot split): the options are at fault too.
  const codes = err.code === 'TRAINING_FAILED' ? err.details?.codes : undefined;
  if (Array.isArray(codes) && codes.length > 0 && codes.every((c) => OPTION_FAULTS.has(String(c)))) return EXIT.refused;
  return failedAfterStart.has(err) || RUNTIME_CODES.has(err.code) ? EXIT.failed : EXIT.refused;
}
