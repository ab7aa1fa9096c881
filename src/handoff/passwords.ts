/**
 * passwords.yml with every key Kolla-Ansible's release expects, filled the
 * way kolla-genpwd fills them, keeping every value an earlier run (or the
 * user) already put there: services keep their credentials across re-runs.
 */
import { createHash, generateKeyPair, randomBytes, randomInt, randomUUID, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import YAML from '../util/vendor/yaml.js';
import { KseedError } from '../errors.js';
import { KOLLA_PASSWORD_KEYS, passwordKind } from './kolla-passwords-keys.js';

const genKeyPair = promisify(generateKeyPair);
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** kolla-genpwd's length; 40 of 62 symbols is ~238 bits. */
const LENGTH = 40;

/** bcrypt's own base64 alphabet (ansible's random_salt draws from the same 64). */
const BCRYPT64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A 22-character bcrypt salt, as genpwd's random_salt(22). 22 characters carry
 * 132 bits of which bcrypt uses 128: the last one is drawn from the four whose
 * low 4 bits are zero, so passlib takes the salt as it is instead of
 * rewriting it (and warning) each time Ansible hashes with it.
 */
const BCRYPT_SALT = /^[./A-Za-z0-9]{22}$/;

export function bcryptSalt(): string {
  let s = '';
  for (let i = 0; i < 21; i++) s += BCRYPT64[randomInt(64)];
  return s + '.Oeu'[randomInt(4)];
}

export function randomPassword(length = LENGTH): string {
  let s = '';
  for (let i = 0; i < length; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}

/** RFC 4253 section 6.6 `ssh-rsa` public key blob, base64, as OpenSSH writes it. */
export function opensshRsaPublic(pub: KeyObject, comment: string): string {
  const jwk = pub.export({ format: 'jwk' });
  const mpint = (b64: string): Buffer => {
    let b = Buffer.from(b64, 'base64url');
    // RFC 4251 section 5: a set high bit means negative, so prefix a zero byte
    if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return b;
  };
  const field = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const blob = Buffer.concat([field(Buffer.from('ssh-rsa')), field(mpint(jwk.e!)), field(mpint(jwk.n!))]);
  return `ssh-rsa ${blob.toString('base64')} ${comment}`;
}

/**
 * An RSA pair in kolla-genpwd's formats (PKCS#8 PEM private, OpenSSH public).
 * 3072 bits, OpenSSH's own default and 128-bit strength (NIST SP 800-57): genpwd's
 * 4096 made seven keys take ~40 s on a busy 2-core seed for no practical gain.
 */
export async function sshKeyPair(comment: string, bits = 3072): Promise<{ private_key: string; public_key: string }> {
  const { privateKey, publicKey } = await genKeyPair('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  return {
    private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    public_key: opensshRsaPublic(publicKey, comment),
  };
}

function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || v === '';
}

function isKeyPair(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !isEmpty((v as Record<string, unknown>).private_key) && !isEmpty((v as Record<string, unknown>).public_key);
}

export interface PasswordsResult {
  text: string;
  generated: string[];
  kept: string[];
}

/**
 * Merges: existing non-empty values win; missing ones are generated.
 * `registryPassword` is the seed registry's (docker_registry_password).
 */
export async function buildPasswords(existingText: string | undefined, opts: { registryPassword?: string; file: string }): Promise<PasswordsResult> {
  let existing: Record<string, unknown> = {};
  if (existingText !== undefined && existingText.trim() !== '') {
    let parsed: unknown;
    try {
      parsed = YAML.parse(existingText);
    } catch (err) {
      throw new KseedError(`${opts.file} is not valid YAML; fix or remove it (kseed keeps existing passwords, so it will not overwrite it)`, { detail: (err as Error).message });
    }
    if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new KseedError(`${opts.file} is not a mapping of keys to passwords; fix or remove it`);
    }
    existing = (parsed as Record<string, unknown>) ?? {};
  }
  const out: Record<string, unknown> = {};
  const generated: string[] = [];
  const kept: string[] = [];
  const pending: Promise<void>[] = [];
  for (const key of KOLLA_PASSWORD_KEYS) {
    const old = existing[key];
    const kind = passwordKind(key);
    // a salt earlier kseed versions wrote as a 40-character password fails Kolla's
    // precheck: it is only a salt (the hash is made again on each deploy), so replace it
    const keep = kind === 'ssh' ? isKeyPair(old) : kind === 'bcrypt-salt' ? typeof old === 'string' && BCRYPT_SALT.test(old) : !isEmpty(old) && kind !== 'registry';
    if (keep) {
      out[key] = old;
      kept.push(key);
      continue;
    }
    generated.push(key);
    switch (kind) {
      case 'ssh':
        out[key] = null;
        // RSA generation takes seconds each: generate them in parallel on the libuv pool
        pending.push(sshKeyPair(`kolla-${key}`).then((p) => void (out[key] = p)));
        break;
      case 'uuid':
        out[key] = randomUUID();
        break;
      case 'hmac-md5':
        // kolla-genpwd: hex HMAC-MD5 of a random UUID (a 128-bit hex string)
        out[key] = createHash('md5').update(randomBytes(32)).digest('hex');
        break;
      case 'fernet':
        // a Fernet key: 32 random bytes, url-safe base64 with padding
        out[key] = randomBytes(32).toString('base64url') + '=';
        break;
      case 'bcrypt-salt':
        out[key] = bcryptSalt();
        break;
      case 'registry':
        generated.pop();
        if (opts.registryPassword !== undefined) out[key] = opts.registryPassword;
        else if (!isEmpty(old)) {
          out[key] = old;
          kept.push(key);
        } else out[key] = null;
        break;
      default:
        out[key] = randomPassword();
    }
  }
  await Promise.all(pending);
  // keys the user added (other releases, plugins) stay
  for (const [k, v] of Object.entries(existing)) if (!(k in out)) out[k] = v;
  const header = '---\n# Kolla-Ansible passwords, written by `kseed handoff` (existing values are kept on re-runs).\n';
  const body = YAML.stringify(out, { lineWidth: 0 });
  return { text: header + body, generated, kept };
}
