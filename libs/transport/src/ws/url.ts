/** `ws://host:port/`, with IPv6 literals bracketed. */
export function wsUrl(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `ws://${h}:${port}/`;
}
