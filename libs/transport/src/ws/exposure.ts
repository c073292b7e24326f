import type { Logger } from '@ringtrain/core';
import { isIP } from 'node:net';

/**
 * True for hosts that only this machine can reach: 127.0.0.0/8, ::1 (also as an IPv4-mapped
 * address) and `localhost`. Other names are not resolved, so they count as reachable from the
 * network: a warning too many beats a silent exposure.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === 'localhost.') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(h) || /^(::ffff:|(0{1,4}:){5}ffff:)127\./.test(h);
  return false;
}

/**
 * Warns once when a server without TLS listens where the network can reach it: the job secret
 * travels in every upgrade and the tensors in every frame, both in clear text, so anyone on the
 * path can read them and, holding the secret, join the job.
 */
export function warnIfCleartext(logger: Logger, host: string, port: number, tls: boolean): void {
  if (tls || isLoopbackHost(host)) return;
  logger.warn(
    `listening on ${host}:${port} without TLS: the job secret and the tensors cross the network in clear text. ` +
      'Turn on TLS with --tls-cert, --tls-key and --tls-ca (or RINGTRAIN_TLS_CERT, RINGTRAIN_TLS_KEY, RINGTRAIN_TLS_CA) on every process of the job, ' +
      'or listen on 127.0.0.1 when the job runs on one machine',
    { code: 'CLEARTEXT', host, port },
  );
}
