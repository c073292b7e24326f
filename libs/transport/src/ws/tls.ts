import { RingtrainError, optionError } from '@ringtrain/core';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';

/** PEM text, as read from a file. */
export type Pem = string | Buffer;

/** What a TLS server needs: its certificate (chain) and the unencrypted private key. */
export interface ServerTls {
  cert: Pem;
  key: Pem;
}

/** What a TLS client needs: the CA it trusts (the job's CA, or the self-signed certificate itself). */
export interface ClientTls {
  ca: Pem;
}

/** Everything a ringtrain process needs, since each one both serves and dials (loadTls). */
export interface TlsMaterial extends ServerTls, ClientTls {}

/** What to call each piece in messages: file paths from loadTls, option names otherwise. */
export interface TlsSources {
  cert: string;
  key: string;
  ca: string;
}

export const TLS_OPTION_SOURCES: TlsSources = Object.freeze({ cert: 'tls.cert', key: 'tls.key', ca: 'tls.ca' });

const OPENSSL_CHECK = 'compare `openssl x509 -noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY`';

/**
 * Checks a server's certificate and key up front, so that a wrong file is named with a hint
 * instead of surfacing as an OpenSSL error from deep inside `https` (or, worse, as every peer
 * failing its handshake). Throws TLS_BAD_PEM or TLS_KEY_MISMATCH.
 */
export function checkServerTls(tls: unknown, from: TlsSources = TLS_OPTION_SOURCES): ServerTls {
  const given = tls as Partial<ServerTls> | null;
  if (typeof given !== 'object' || given === null || !isPem(given.cert) || !isPem(given.key)) {
    throw optionError('tls', '<pem>', 'an object with cert and key, PEM strings or Buffers');
  }
  const cert = parseCertificate(given.cert, from.cert);
  const key = parseKey(given.key, from.key);
  if (!cert.checkPrivateKey(key)) {
    throw new RingtrainError('TLS_KEY_MISMATCH', `the certificate ${from.cert} does not match the key ${from.key}`, {
      hint: `pass the key the certificate was made for (to check: ${OPENSSL_CHECK})`,
      details: { cert: from.cert, key: from.key, subject: cert.subject },
    });
  }
  return { cert: given.cert, key: given.key };
}

/** Checks that a client's CA is a certificate. Throws TLS_BAD_PEM. */
export function checkClientTls(tls: unknown, from: TlsSources = TLS_OPTION_SOURCES): ClientTls {
  const given = tls as Partial<ClientTls> | null;
  if (typeof given !== 'object' || given === null || !isPem(given.ca)) {
    throw optionError('tls', '<pem>', 'an object with ca, a PEM string or Buffer');
  }
  parseCertificate(given.ca, from.ca);
  return { ca: given.ca };
}

/**
 * Throws TLS_CA_MISMATCH when `cert` is a single certificate that none of the certificates in
 * `ca` issued: every peer would then refuse this process's certificate. (A cert file that
 * carries its chain is left to the handshake.)
 */
export function checkIssuedBy(cert: Pem, ca: Pem, from: TlsSources): void {
  const chain = pemCertificates(cert);
  if (chain.length !== 1) return;
  const leaf = new X509Certificate(chain[0]);
  const issued = pemCertificates(ca).some((pem) => {
    const authority = new X509Certificate(pem);
    return leaf.checkIssued(authority) && leaf.verify(authority.publicKey);
  });
  if (!issued) {
    throw new RingtrainError('TLS_CA_MISMATCH', `the certificate ${from.cert} is not signed by the CA ${from.ca}`, {
      hint: 'give every process the CA that signed the job\'s certificates (or, for a self-signed certificate, the certificate itself)',
      details: { cert: from.cert, ca: from.ca, issuer: leaf.issuer },
    });
  }
}

/**
 * TLS options of a dialing socket. The server's chain must lead to `ca`, and nothing else is
 * trusted (not the system's CAs). Host names are not checked: one certificate usually serves
 * every node of a job, whose addresses are not known when it is made, so it cannot name them.
 * Authenticity comes from pinning the job's own CA instead, and the job secret still
 * authenticates every connection at the upgrade.
 */
export function clientTlsOptions(tls: ClientTls): { ca: Pem; checkServerIdentity: () => undefined; rejectUnauthorized: true } {
  return { ca: tls.ca, checkServerIdentity: () => undefined, rejectUnauthorized: true };
}

function parseCertificate(pem: Pem, source: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new RingtrainError('TLS_BAD_PEM', `${source} is not a PEM certificate: ${(e as Error).message}`, {
      hint: 'expected a file starting with -----BEGIN CERTIFICATE----- (check with `openssl x509 -noout -text -in FILE`)',
      details: { source },
      cause: e,
    });
  }
}

function parseKey(pem: Pem, source: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new RingtrainError('TLS_BAD_PEM', `${source} is not an unencrypted PEM private key: ${(e as Error).message}`, {
      hint: 'expected a file starting with -----BEGIN PRIVATE KEY----- without a passphrase (e.g. made with `openssl req -x509 -newkey rsa:2048 -nodes ...`)',
      details: { source },
      cause: e,
    });
  }
}

function pemCertificates(pem: Pem): string[] {
  return pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function isPem(value: unknown): value is Pem {
  return (typeof value === 'string' && value.length > 0) || (Buffer.isBuffer(value) && value.length > 0);
}
