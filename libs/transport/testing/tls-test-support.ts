/* Throwaway certificates for this folder's TLS tests, made with the openssl CLI. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  dir: string;
  /** Self-signed for localhost and 127.0.0.1, with its key. */
  cert: string;
  key: string;
  /** Another self-signed certificate and key: a different CA. */
  otherCert: string;
  otherKey: string;
  remove(): void;
}

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-tls-'));
  const selfSigned = (name: string) => {
    const cert = join(dir, `${name}-cert.pem`);
    const key = join(dir, `${name}-key.pem`);
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=ringtrain-${name}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
    return { cert, key };
  };
  const job = selfSigned('test');
  const other = selfSigned('other');
  return { dir, cert: job.cert, key: job.key, otherCert: other.cert, otherKey: other.key, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
