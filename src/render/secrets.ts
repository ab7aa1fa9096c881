/**
 * Secrets the seed stack needs, generated once into `.kseed/secrets/` and
 * reused, so a second render is byte-identical and running services keep
 * their credentials. Files are 0600 in a 0700 directory; the rendered stack
 * only points at them (compose `secrets:`), it never contains them.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { KseedError } from '../errors.js';

/**
 * Ironic and the registry accept bcrypt only, and check it on every request:
 * cost 10 is ~60 ms of CPU per request (ironic-offline.md 3b). For a password
 * a person chose (the site's registry password) that is the price of slowing
 * a guess against a leaked hash.
 */
const BCRYPT_COST = 10;
/**
 * Ironic's user (and JSON-RPC's, with several conductors) has a password
 * kseed generated: 192 random bits, which no cost factor makes more or less
 * guessable. At cost 10 the engine's polls of 16 nodes a second took most of
 * a core in Ironic (bench/fleet --engine ironic, 10 nodes: the stack's
 * containers 28 s of CPU in a 31 s provision); bcrypt's minimum, 4, is 64x
 * cheaper.
 */
const GENERATED_COST = 4;

export interface StackSecrets {
  ironicUser: string;
  ironicPassword: string;
  registryUser: string;
  registryPassword: string;
  /** Secret file names inside the secrets dir, by compose secret name. */
  files: Record<string, string>;
}

export interface SecretsOptions {
  registryUser: string;
  /** The site's own registry password (already resolved); unset = generated. */
  registryPassword?: string;
  inspector: boolean;
  /** Several conductors: MariaDB's password, and the database URL and JSON-RPC credentials for Ironic. */
  database?: { address: string; port: number };
}

export const IRONIC_USER = 'kseed';

function generatePassword(): string {
  // base64url: no characters that need quoting in htpasswd, ini or YAML.
  return randomBytes(24).toString('base64url');
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Write-then-rename so a crash never leaves a half-written secret. */
async function writeSecret(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/** Keep an existing file when it already says the same; rewrite otherwise. */
async function ensureFile(file: string, wanted: (old: string | undefined) => string): Promise<string> {
  const old = await readIfExists(file);
  const content = wanted(old);
  if (content !== old) await writeSecret(file, content);
  else await chmod(file, 0o600);
  return content;
}

/** `user:$2b$<cost>$...`, kept when the existing hash still matches at that cost (bcrypt salts are random). */
function htpasswdFor(user: string, password: string, cost = BCRYPT_COST): (old: string | undefined) => string {
  return (old) => {
    const line = old?.trim();
    if (line) {
      const idx = line.indexOf(':');
      const [u, hash] = [line.slice(0, idx), line.slice(idx + 1)];
      const costOf = /^\$2[aby]\$(\d\d)\$/.exec(hash)?.[1];
      if (u === user && Number(costOf) === cost && bcrypt.compareSync(password, hash)) return old as string;
    }
    return `${user}:${bcrypt.hashSync(password, cost)}\n`;
  };
}

export async function ensureSecrets(secretsDir: string, opts: SecretsOptions): Promise<StackSecrets> {
  try {
    await mkdir(secretsDir, { recursive: true, mode: 0o700 });
    await chmod(secretsDir, 0o700);
    const s = await stat(secretsDir);
    if (!s.isDirectory()) throw new Error(`${secretsDir} is not a directory`);
  } catch (err) {
    throw new KseedError(`cannot create the secrets directory ${secretsDir}`, { detail: String(err), cause: err });
  }
  const p = (name: string) => path.join(secretsDir, name);

  const ironicPassword = (await ensureFile(p('ironic-password'), (old) => (old?.trim() ? old : `${generatePassword()}\n`))).trim();
  const registryPassword = (
    await ensureFile(p('registry-password'), (old) => {
      if (opts.registryPassword !== undefined) return `${opts.registryPassword}\n`;
      return old?.trim() ? old : `${generatePassword()}\n`;
    })
  ).trim();
  await ensureFile(p('ironic-htpasswd'), htpasswdFor(IRONIC_USER, ironicPassword, GENERATED_COST));
  await ensureFile(p('registry-htpasswd'), htpasswdFor(opts.registryUser, registryPassword));

  const files: Record<string, string> = {
    'ironic-htpasswd': 'ironic-htpasswd',
    'registry-htpasswd': 'registry-htpasswd',
  };
  if (opts.inspector) {
    // oslo.config merges a second --config-file: credentials stay out of the rendered ironic.conf/inspector.conf.
    const creds = `username = ${IRONIC_USER}\npassword = ${ironicPassword}\n`;
    await ensureFile(p('ironic-secrets.conf'), () => `[inspector]\nauth_type = http_basic\n${creds}`);
    await ensureFile(p('inspector-secrets.conf'), () => `[ironic]\nauth_type = http_basic\n${creds}`);
    files['ironic-secrets-conf'] = 'ironic-secrets.conf';
    files['inspector-secrets-conf'] = 'inspector-secrets.conf';
  }
  if (opts.database) {
    const dbPassword = (await ensureFile(p('mariadb-password'), (old) => (old?.trim() ? old : `${generatePassword()}\n`))).trim();
    const { address, port } = opts.database;
    // The API's JSON-RPC client logs in to the conductors with kseed's Ironic user
    // (the conductors check it against the same htpasswd as the API).
    await ensureFile(
      p('ironic-db.conf'),
      () =>
        `[database]\nconnection = mysql+pymysql://ironic:${dbPassword}@${address}:${port}/ironic?charset=utf8mb4\n\n` +
        `[json_rpc]\nauth_type = http_basic\nusername = ${IRONIC_USER}\npassword = ${ironicPassword}\n`,
    );
    files['mariadb-password'] = 'mariadb-password';
    files['ironic-db-conf'] = 'ironic-db.conf';
  }
  return { ironicUser: IRONIC_USER, ironicPassword, registryUser: opts.registryUser, registryPassword, files };
}
