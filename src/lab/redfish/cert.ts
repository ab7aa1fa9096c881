/**
 * The TLS certificate of a lab's Redfish BMCs: self-signed, for 127.0.0.1
 * (subjectAltName IP, RFC 5280 4.2.1.6), made once per lab with Debian's
 * openssl and kept beside the lab's BMC password: the key 0600 in the
 * secrets directory. A client may pin the certificate instead of turning
 * verification off (the readiness probe does).
 */
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { requireTool, run } from '../../util/tools.js';

export interface LabCert {
  cert: string;
  key: string;
}

export function labCertPaths(stateDir: string, lab: string): LabCert {
  const dir = path.join(path.resolve(stateDir), 'secrets');
  return { cert: path.join(dir, `lab-${lab}.bmc-tls.crt`), key: path.join(dir, `lab-${lab}.bmc-tls.key`) };
}

/** Creates the pair unless both exist; never leaves a half-written one behind. */
export async function ensureLabCert(stateDir: string, lab: string): Promise<LabCert> {
  const p = labCertPaths(stateDir, lab);
  if (existsSync(p.cert) && existsSync(p.key)) {
    chmodSync(p.key, 0o600);
    return p;
  }
  mkdirSync(path.dirname(p.key), { recursive: true, mode: 0o700 });
  const tmp = { cert: `${p.cert}.${process.pid}.tmp`, key: `${p.key}.${process.pid}.tmp` };
  try {
    // P-256: made in milliseconds; 10 years: a lab certificate should never be why a lab stops working
    await run(requireTool('openssl'), [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', tmp.key, '-out', tmp.cert, '-days', '3650',
      '-subj', `/O=kseed lab/CN=kseed lab ${lab} BMC`, '-addext', 'subjectAltName=IP:127.0.0.1',
    ]);
    chmodSync(tmp.key, 0o600);
    renameSync(tmp.key, p.key);
    renameSync(tmp.cert, p.cert);
  } finally {
    rmSync(tmp.key, { force: true });
    rmSync(tmp.cert, { force: true });
  }
  return p;
}

export function removeLabCert(stateDir: string, lab: string): string[] {
  const p = labCertPaths(stateDir, lab);
  return [p.key, p.cert].filter((f) => {
    if (!existsSync(f)) return false;
    rmSync(f, { force: true });
    return true;
  });
}
