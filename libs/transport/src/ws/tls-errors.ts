import { RingtrainError } from '@ringtrain/core';

/** OpenSSL verification results that mean: the server's certificate does not lead to our CA. */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'CERT_CHAIN_TOO_LONG',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
]);

const OUT_OF_DATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

const SAME_FLAGS = 'start every process of the job with the same --tls-cert/--tls-key/--tls-ca (or RINGTRAIN_TLS_CERT/_KEY/_CA)';

/**
 * The error a failed TLS handshake stands for, as the dialing side sees it; null when `err`
 * is not a TLS failure. None of these is retried: another attempt meets the same certificate.
 */
export function tlsConnectError(url: string, err: Error & { code?: string }): RingtrainError | null {
  const code = err.code ?? '';
  const details = { url, tlsCode: code };
  if (UNTRUSTED.has(code)) {
    return new RingtrainError('TLS_UNTRUSTED', `the certificate of ${url} is not signed by the CA given (${code})`, {
      hint: `the server belongs to another job or was given another certificate; ${SAME_FLAGS}, or pass as --tls-ca the CA (or self-signed certificate) the servers use`,
      details,
      cause: err,
    });
  }
  if (OUT_OF_DATE.has(code)) {
    return new RingtrainError('TLS_UNTRUSTED', `the certificate of ${url} is ${code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not valid yet'}`, {
      hint: 'make a new certificate for the job (and check the clocks of both machines)',
      details,
      cause: err,
    });
  }
  if (code === 'EPROTO' || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    const plain = /wrong version number|packet length too long|unknown protocol/i.test(err.message);
    return new RingtrainError('TLS_HANDSHAKE', `the TLS handshake with ${url} failed: ${err.message}`, {
      hint: plain ? `the server does not speak TLS; ${SAME_FLAGS}` : `the server refused this process's TLS settings; ${SAME_FLAGS}`,
      details,
      cause: err,
    });
  }
  return null;
}

/** A hint for a plain ws:// dial that the server hung up on: a TLS server does that. */
export function plainToTlsHint(url: string, err: Error & { code?: string }): string | undefined {
  if (!url.startsWith('ws://') || err.code !== 'ECONNRESET') return undefined;
  return "the server dropped the connection during the handshake; if it serves TLS, dial wss:// trusting the job's CA (--tls-ca, RINGTRAIN_TLS_CA)";
}
