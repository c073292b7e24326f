import type { Server } from 'node:net';

/**
 * Starts `server` listening and settles once: resolves when it listens, rejects with the
 * listen error (EADDRINUSE, EACCES, …) as Node raised it, for the caller to name in its own terms.
 * After a successful listen, later 'error' events are the caller's to handle.
 */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
