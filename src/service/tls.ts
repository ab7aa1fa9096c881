/**
 * TLS of the seed service: a CA kseed makes once per seed in
 * .kseed/secrets/ (api-ca.crt, its key 0600), and the service's own
 * certificate signed by it for the addresses it listens on
 * (subjectAltName IP entries, RFC 5280 section 4.2.1.6; extendedKeyUsage
 * serverAuth), remade when those addresses change. Clients verify with the
 * CA file (`KSEED_CA`, `curl --cacert`), never by turning verification off.
 * Made with Debian's openssl; nothing half-written is left behind.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { requireTool, run } from '../util/tools.js';

export interface ApiTlsFiles {
  ca: string;
  caKey: string;
  cert: string;
  key: string;
}

export function apiTlsPaths(stateDir: string): ApiTlsFiles {
  const dir = path.join(path.resolve(stateDir), 'secrets');
  return { ca: path.join(dir, 'api-ca.crt'), caKey: path.join(dir, 'api-ca.key'), cert: path.join(dir, 'api.crt'), key: path.join(dir, 'api.key') };
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Writes `files` (tmp name -> final name) by renaming, keys 0600, or none of them. */
async function atomically(files: [string, string][], make: (tmp: (f: string) => string) => Promise<void>): Promise<void> {
  const tmp = (f: string) => `${f}.${process.pid}.tmp`;
  try {
    await make(tmp);
    for (const [f] of files) if (f.endsWith('.key')) chmodSync(tmp(f), 0o600);
    for (const [f, to] of files) renameSync(tmp(f), to);
  } finally {
    for (const [f] of files) rmSync(tmp(f), { force: true });
  }
}

/** The CA (made once) and a service certificate for `hosts` (IPv4 addresses; remade when they change). */
export async function ensureApiTls(stateDir: string, hosts: readonly string[]): Promise<ApiTlsFiles> {
  const p = apiTlsPaths(stateDir);
  mkdirSync(path.dirname(p.key), { recursive: true, mode: 0o700 });
  const openssl = requireTool('openssl', 'the seed service\'s TLS certificate');
  if (!existsSync(p.ca) || !existsSync(p.caKey)) {
    await atomically([[p.caKey, p.caKey], [p.ca, p.ca]], (tmp) =>
      run(openssl, ['req', '-x509', ...EC, '-keyout', tmp(p.caKey), '-out', tmp(p.ca), '-days', '3650', '-subj', '/O=kseed/CN=kseed seed service CA',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']).then(() => undefined),
    );
    // a new CA: the old service certificate is not signed by it
    rmSync(p.cert, { force: true });
  }
  const san = `subjectAltName=${[...new Set(hosts)].map((h) => `IP:${h}`).join(',')}`;
  const sanFile = `${p.cert}.san`;
  if (existsSync(p.cert) && existsSync(p.key) && existsSync(sanFile) && readFileSync(sanFile, 'utf8') === san) return p;
  const csr = `${p.cert}.${process.pid}.csr`;
  const ext = `${p.cert}.${process.pid}.ext`;
  try {
    await atomically([[p.key, p.key], [p.cert, p.cert]], async (tmp) => {
      await run(openssl, ['req', '-new', ...EC, '-keyout', tmp(p.key), '-out', csr, '-subj', '/O=kseed/CN=kseed seed service']);
      writeFileSync(ext, `${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n`);
      await run(openssl, ['x509', '-req', '-in', csr, '-CA', p.ca, '-CAkey', p.caKey, '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', '825', '-extfile', ext, '-out', tmp(p.cert)]);
    });
    writeFileSync(sanFile, san, { mode: 0o600 });
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
  return p;
}
