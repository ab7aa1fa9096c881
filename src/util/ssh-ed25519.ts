/**
 * An ed25519 SSH key pair in OpenSSH's own formats, from node:crypto: the
 * public line (RFC 8709 section 4 `ssh-ed25519` blob, RFC 4253 section 6.6
 * framing) and the private key file OpenSSH reads (PROTOCOL.key,
 * "openssh-key-v1", unencrypted: ssh does not read ed25519 keys as PKCS#8).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';

/** RFC 4251 section 5 `string`: a uint32 length, then the bytes. */
function str(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

export interface SshKeyPair {
  /** `ssh-ed25519 AAAA... comment` */
  publicLine: string;
  /** The `-----BEGIN OPENSSH PRIVATE KEY-----` file's text (write it 0600). */
  privatePem: string;
}

export function ed25519KeyPair(comment: string): SshKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url');
  const blob = Buffer.concat([str('ssh-ed25519'), str(pub)]);
  const check = randomBytes(4);
  // the private section: check ints (equal: a wrong passphrase shows), key type, public, seed || public, comment, padding 1, 2, 3... to the cipher's block (8 for none)
  let priv = Buffer.concat([check, check, str('ssh-ed25519'), str(pub), str(Buffer.concat([seed, pub])), str(comment)]);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(1);
  const file = Buffer.concat([Buffer.from('openssh-key-v1\0'), str('none'), str('none'), str(''), count, str(blob), str(priv)]);
  const b64 = file.toString('base64').replace(/.{1,70}/g, '$&\n');
  return { publicLine: `ssh-ed25519 ${blob.toString('base64')} ${comment}`, privatePem: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}-----END OPENSSH PRIVATE KEY-----\n` };
}
