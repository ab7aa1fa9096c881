/**
 * The seed service's users: one bearer token per name, as `kseed token
 * create NAME` makes it. Only a SHA-256 of the secret is stored (the secret
 * is 256 random bits, so a plain hash is as good as a slow one and lets a
 * request be checked by one indexed lookup); the secret itself is returned
 * once, to the creator. A revoked token keeps its row so a request with it
 * is told "revoked", not "unknown", and `token list` shows when.
 */
import { createHash, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { InputError, KseedError } from '../errors.js';

export interface ApiTokenRecord {
  name: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export type TokenCheck = { ok: true; name: string } | { ok: false; reason: 'unknown' } | { ok: false; reason: 'revoked'; name: string; revoked_at: number };

/** A name a person or pipeline is known by: it shows in leases and events. */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/** `kseed_` marks the secret in a leaked file or log, so scanners and people recognise it. */
const PREFIX = 'kseed_';

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');

export class ApiTokens {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
    private readonly tx: <T>(fn: () => T) => T,
  ) {}

  /** A new token for `name`; the secret is in the result and nowhere else. */
  create(name: string): ApiTokenRecord & { secret: string } {
    if (!TOKEN_NAME.test(name)) {
      throw new InputError(`token name "${name}" is not valid: 1 to 64 of letters, digits, . _ @ -, starting with a letter or digit`, [], { code: 'bad-token-name' });
    }
    const secret = PREFIX + randomBytes(32).toString('base64url');
    return this.tx(() => {
      if (this.get(name)) throw new KseedError(`a token named ${name} exists: revoke it first (kseed token revoke ${name})`, { code: 'token-exists', exitCode: 2 });
      this.db.prepare('INSERT INTO api_tokens (name, token_hash, created_at) VALUES (?, ?, ?)').run(name, hashOf(secret), this.now());
      return { ...this.get(name)!, secret };
    });
  }

  /** The live token of `name`. */
  get(name: string): ApiTokenRecord | undefined {
    return this.db.prepare('SELECT name, created_at, revoked_at, last_used_at FROM api_tokens WHERE name = ? AND revoked_at IS NULL').get(name) as ApiTokenRecord | undefined;
  }

  /** Every token, revoked ones too, oldest first. */
  list(): ApiTokenRecord[] {
    return this.db.prepare('SELECT name, created_at, revoked_at, last_used_at FROM api_tokens ORDER BY id').all() as ApiTokenRecord[];
  }

  /** Revokes the live token of `name`; false when there is none (revoking twice is no error). */
  revoke(name: string): boolean {
    return this.tx(() => this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL').run(this.now(), name).changes > 0);
  }

  /** Whose token `secret` is; marks it used (at most once a minute, so reads stay reads). */
  check(secret: string): TokenCheck {
    if (!secret.startsWith(PREFIX)) return { ok: false, reason: 'unknown' };
    const r = this.db.prepare('SELECT id, name, revoked_at, last_used_at FROM api_tokens WHERE token_hash = ?').get(hashOf(secret)) as
      | { id: number; name: string; revoked_at: number | null; last_used_at: number | null }
      | undefined;
    if (!r) return { ok: false, reason: 'unknown' };
    if (r.revoked_at !== null) return { ok: false, reason: 'revoked', name: r.name, revoked_at: r.revoked_at };
    const now = this.now();
    if (r.last_used_at === null || now - r.last_used_at > 60_000) {
      this.tx(() => this.db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(now, r.id));
    }
    return { ok: true, name: r.name };
  }
}
