/**
 * A throw-away self-signed certificate for `wss://` tests, made with the `openssl` CLI at test time so that no
 * key material lives in the repository.
 *
 * @module
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A PEM key and certificate for CN=localhost with SANs localhost and 127.0.0.1, valid one day. */
export interface TestCertificate {
  key: string;
  cert: string;
}

/**
 * Generates a P-256 self-signed certificate, or returns the reason it could not (no `openssl` on PATH, or a
 * version without `-addext`).
 */
export function selfSignedCertificate(): TestCertificate | { unavailable: string } {
  const dir = mkdtempSync(join(tmpdir(), 'volley-cert-'));
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout', keyFile, '-out', certFile,
      ],
      { stdio: 'pipe', timeout: 10_000 },
    );
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  } catch (error) {
    return { unavailable: `openssl could not make a certificate: ${(error as Error).message.split('\n')[0]}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
