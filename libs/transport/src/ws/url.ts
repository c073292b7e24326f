/**
 * `ws://host:port/` (or `wss://` for a TLS server), with IPv6 literals bracketed. Peer addresses
 * carry no scheme: every process of a job runs with the same TLS settings, so a dialer uses its
 * own.
 */
export function wsUrl(host: string, port: number, scheme: 'ws' | 'wss' = 'ws'): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${scheme}://${h}:${port}/`;
}
