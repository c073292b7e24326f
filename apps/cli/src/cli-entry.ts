/** How to start this same CLI in a child process (workers, coordinator). */
export function cliEntry(): string {
  return process.env.RINGTRAIN_CLI ?? process.argv[1];
}
