/**
 * Who may talk to a lab Redfish BMC: one account (the lab's BMC user), by
 * HTTP Basic (RFC 7617) or by a session token (DSP0266 "Session login
 * authentication": POST Sessions -> X-Auth-Token, DELETE to log out, idle
 * sessions expire after SessionTimeout). Passwords are compared as digests
 * in constant time. No sockets.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface Session {
  id: string;
  user: string;
  token: string;
  lastUsed: number;
}

export type Who = { ok: true; user: string; session?: Session } | { ok: false; why: 'none' | 'bad' };

/** Real BMCs allow a handful of sessions; more is a client that never logs out. */
export const MAX_SESSIONS = 32;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class Accounts {
  private readonly sessions = new Map<string, Session>();
  private nextId = 1;

  constructor(
    private readonly user: string,
    private readonly password: string,
    readonly timeoutSec = 1800,
    private readonly now: () => number = Date.now,
  ) {}

  /** Constant time in the password; the user name is not a secret. */
  check(user: string, password: string): boolean {
    return user === this.user && timingSafeEqual(digest(password), digest(this.password));
  }

  private expire(): void {
    const limit = this.now() - this.timeoutSec * 1000;
    for (const [t, s] of this.sessions) if (s.lastUsed < limit) this.sessions.delete(t);
  }

  /** A new session, or undefined for wrong credentials; the oldest session goes when all slots are taken. */
  login(user: string, password: string): Session | undefined {
    if (!this.check(user, password)) return undefined;
    this.expire();
    if (this.sessions.size >= MAX_SESSIONS) {
      const oldest = [...this.sessions.values()].sort((a, b) => a.lastUsed - b.lastUsed)[0]!;
      this.sessions.delete(oldest.token);
    }
    const s: Session = { id: String(this.nextId++), user, token: randomBytes(24).toString('hex'), lastUsed: this.now() };
    this.sessions.set(s.token, s);
    return s;
  }

  list(): Session[] {
    this.expire();
    return [...this.sessions.values()].sort((a, b) => Number(a.id) - Number(b.id));
  }

  byId(id: string): Session | undefined {
    return this.list().find((s) => s.id === id);
  }

  logout(id: string): boolean {
    const s = this.byId(id);
    if (!s) return false;
    this.sessions.delete(s.token);
    return true;
  }

  /**
   * The caller of a request, from its X-Auth-Token or Authorization header.
   * A token that is present but unknown or expired is refused even if Basic
   * credentials come along: the client believes it holds a session.
   */
  who(headers: { token?: string; authorization?: string }): Who {
    if (headers.token !== undefined) {
      this.expire();
      const s = this.sessions.get(headers.token);
      if (!s) return { ok: false, why: 'bad' };
      s.lastUsed = this.now();
      return { ok: true, user: s.user, session: s };
    }
    const auth = headers.authorization;
    if (auth === undefined) return { ok: false, why: 'none' };
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth);
    if (!m) return { ok: false, why: 'bad' };
    const text = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) return { ok: false, why: 'bad' };
    const user = text.slice(0, colon);
    return this.check(user, text.slice(colon + 1)) ? { ok: true, user } : { ok: false, why: 'bad' };
  }
}
