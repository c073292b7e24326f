import { RingtrainError } from '@ringtrain/core';
import { readFileSync } from 'node:fs';
import { checkClientTls, checkIssuedBy, checkServerTls, type TlsMaterial } from './tls';

/** Paths of PEM files, as the CLI takes them (--tls-cert/--tls-key/--tls-ca, RINGTRAIN_TLS_*). */
export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
}

/**
 * Reads a process's TLS material and checks it before anything listens or dials: the
 * certificate parses, the key parses and belongs to it, the CA parses and signed it. Without a
 * CA the certificate itself is the CA (a self-signed certificate shared by the job). Returns
 * null when no file is given (no TLS).
 *
 * Throws TLS_INCOMPLETE (a certificate without its key, or the reverse; every ringtrain process
 * serves as well as dials, so a CA alone is not enough either), TLS_FILE (naming the path that
 * cannot be read), TLS_BAD_PEM, TLS_KEY_MISMATCH, TLS_CA_MISMATCH.
 */
export function loadTls(files: TlsFiles): TlsMaterial | null {
  const cert = given(files.cert);
  const key = given(files.key);
  const ca = given(files.ca);
  if (!cert && !key && !ca) return null;
  if (!cert || !key) {
    const missing = !cert ? 'a certificate (--tls-cert, RINGTRAIN_TLS_CERT)' : 'its private key (--tls-key, RINGTRAIN_TLS_KEY)';
    throw new RingtrainError('TLS_INCOMPLETE', `TLS needs a certificate and its key; ${missing} is missing`, {
      hint: 'pass --tls-cert and --tls-key together (and --tls-ca unless the certificate is self-signed), or none of them',
      details: { cert: cert ?? null, key: key ?? null, ca: ca ?? null },
    });
  }
  const sources = { cert, key, ca: ca ?? cert };
  const certPem = readPem(cert);
  const material: TlsMaterial = { cert: certPem, key: readPem(key), ca: ca ? readPem(ca) : certPem };
  checkServerTls(material, sources);
  checkClientTls(material, sources);
  checkIssuedBy(material.cert, material.ca, sources);
  return material;
}

function given(path: string | undefined): string | undefined {
  return typeof path === 'string' && path.length > 0 ? path : undefined;
}

function readPem(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new RingtrainError('TLS_FILE', `cannot read the TLS file ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, {
      hint: 'check the path given to --tls-cert/--tls-key/--tls-ca (or RINGTRAIN_TLS_CERT/_KEY/_CA) and that this user may read it',
      details: { path, errno: err.code },
      cause: e,
    });
  }
}
