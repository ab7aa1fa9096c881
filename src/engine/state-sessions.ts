/**
 * The status page's login sessions, kept in the state store so a restart
 * of the seed service (`kseed down`/`up`, `up` after a crash) logs nobody
 * out. A session is a random id (the cookie's value) bound to the row of
 * the API token it was opened with: only a SHA-256 of the id is stored
 * (256 random bits: a plain hash is as strong as a slow one, and a session
 * is found by one indexed lookup), never the token's secret. A session
 * lives until its expiry, its logout, or the revocation of its token: the
 * check joins the token's row, so a token revoked by any process (`kseed
 * token revoke` on the store) ends its sessions at their next request, and
 * they say "revoked" rather than "unknown" until they expire.
 */
import { createHash, randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';

export type SessionCheck = { ok: true; name: string } | { ok: false; reason: 'unknown' } | { ok: false; reason: 'revoked'; name: string; revoked_at: number };

/** Past this many live sessions the oldest goes (someone logging in in a loop). */
export const MAX_SESSIONS = 1000;

const hashOf = (id: string) => createHash('sha256').update(id).digest('hex');
/** What a cookie carries: 32 random bytes, base64url. Anything else is never looked up. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export class ApiSessions {
  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
    private readonly tx: <T>(fn: () => T) => T,
  ) {}

  /** A new session of the live token of `tokenName` for `ttlMs`; its id is in the result and nowhere else. */
  create(tokenName: string, ttlMs: number): string | undefined {
    const id = randomBytes(32).toString('base64url');
    return this.tx(() => {
      const now = this.now();
      const t = this.db.prepare('SELECT id FROM api_tokens WHERE name = ? AND revoked_at IS NULL').get(tokenName) as { id: number } | undefined;
      if (!t) return undefined;
      this.db.prepare('DELETE FROM api_sessions WHERE expires_at <= ?').run(now);
      const over = (this.db.prepare('SELECT COUNT(*) AS n FROM api_sessions').get() as { n: number }).n - (MAX_SESSIONS - 1);
      if (over > 0) this.db.prepare('DELETE FROM api_sessions WHERE rowid IN (SELECT rowid FROM api_sessions ORDER BY created_at, rowid LIMIT ?)').run(over);
      this.db.prepare('INSERT INTO api_sessions (id_hash, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)').run(hashOf(id), t.id, now, now + ttlMs);
      return id;
    });
  }

  /** Whose live session `id` is; an expired or logged-out one is unknown, one of a revoked token says so. */
  check(id: string): SessionCheck {
    if (!SESSION_ID.test(id)) return { ok: false, reason: 'unknown' };
    const r = this.db
      .prepare('SELECT s.expires_at, t.name, t.revoked_at FROM api_sessions s JOIN api_tokens t ON t.id = s.token_id WHERE s.id_hash = ?')
      .get(hashOf(id)) as { expires_at: number; name: string; revoked_at: number | null } | undefined;
    if (!r || r.expires_at <= this.now()) return { ok: false, reason: 'unknown' };
    if (r.revoked_at !== null) return { ok: false, reason: 'revoked', name: r.name, revoked_at: r.revoked_at };
    return { ok: true, name: r.name };
  }

  /** Logs `id` out; false when it was not a session (ending twice is no error). */
  end(id: string): boolean {
    if (!SESSION_ID.test(id)) return false;
    return this.tx(() => this.db.prepare('DELETE FROM api_sessions WHERE id_hash = ?').run(hashOf(id)).changes > 0);
  }

  /** How many sessions are live now. */
  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM api_sessions WHERE expires_at > ?').get(this.now()) as { n: number }).n;
  }
}
