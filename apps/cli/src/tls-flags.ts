import type { Command } from 'commander';
import { loadTls, type TlsMaterial } from '@ringtrain/transport';

export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

/** --tls-cert, --tls-key, --tls-ca: the same three on the coordinator and on every worker of a job. */
export function addTlsOptions(cmd: Command): Command {
  return cmd
    .option('--tls-cert <file>', 'serve wss:// with this PEM certificate (default: RINGTRAIN_TLS_CERT); one certificate may serve every node of the job')
    .option('--tls-key <file>', 'the certificate\'s PEM private key (default: RINGTRAIN_TLS_KEY)')
    .option('--tls-ca <file>', 'the PEM CA the job\'s certificate chains to (default: RINGTRAIN_TLS_CA, else the certificate itself)');
}

/** The job's TLS material from the flags or the environment, checked up front (a key that does not match its certificate is refused); null without TLS. */
export function tlsFromFlags(flags: TlsFlags, env: NodeJS.ProcessEnv): TlsMaterial | null {
  const pick = (flag: string | undefined, name: string) => flag ?? (env[name] || undefined);
  return loadTls({ cert: pick(flags.tlsCert, 'RINGTRAIN_TLS_CERT'), key: pick(flags.tlsKey, 'RINGTRAIN_TLS_KEY'), ca: pick(flags.tlsCa, 'RINGTRAIN_TLS_CA') });
}
