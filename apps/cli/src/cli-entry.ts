/** How to start this same CLI in a child process (workers, coordinator). */
export function cliEntry(): string {
  return process.env.RINGTRAIN_CLI ?? process.argv[1];
}

/**
 * Node flags of worker processes; RINGTRAIN_WORKER_NODE_FLAGS (space-separated, may be empty)
 * replaces them. A worker keeps one core busy with kernels; V8's parallel and
 * concurrent GC helper threads would run on the other workers' cores and stall their kernels,
 * and the tensors' garbage triggers a collection every few tens of MB. Collecting on the
 * worker's own thread, with a larger young generation, made a 2-worker `bench train` step
 * about 9% faster on the 2-core reference machine (benchmarks/NOTES.md, 2026-11-21, session 5).
 */
const WORKER_NODE_FLAGS: readonly string[] =
  process.env.RINGTRAIN_WORKER_NODE_FLAGS !== undefined
    ? process.env.RINGTRAIN_WORKER_NODE_FLAGS.split(' ').filter((f) => f.length > 0)
    : ['--single-threaded-gc', '--max-semi-space-size=32'];

/** The command that starts one worker process of this CLI. */
export function workerCommand(...args: string[]): string[] {
  return [process.execPath, ...WORKER_NODE_FLAGS, cliEntry(), 'worker', ...args];
}
