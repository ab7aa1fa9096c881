/**
 * The token the seed's own CLI uses to reach its service. The service keeps
 * it in .kseed/secrets/api-cli.token (0600) beside the run file that says
 * where it listens: whoever can read .kseed/ is the seed's administrator
 * already (cli/token.ts), so the file gives nobody more than they had, and
 * `kseed status` on the seed needs no KSEED_TOKEN. A CI runner elsewhere
 * still sets KSEED_URL and KSEED_TOKEN.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { StateStore } from '../engine/state.js';

/** The token's name in `kseed token list`; revoking it cuts the seed's CLI off until the service starts again. */
export const CLI_TOKEN_NAME = 'cli@seed';

export const cliTokenFileOf = (stateDir: string) => path.join(stateDir, 'secrets', 'api-cli.token');

/** The secret the file holds, if any. */
export function readCliToken(stateDir: string): string | undefined {
  try {
    return readFileSync(cliTokenFileOf(stateDir), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Keeps the file's token if it is still live, else revokes the old one (its secret is lost) and writes a new one. */
export function ensureCliToken(store: StateStore, stateDir: string): void {
  const old = readCliToken(stateDir);
  if (old) {
    const c = store.tokens.check(old);
    if (c.ok && c.name === CLI_TOKEN_NAME) return;
  }
  store.tokens.revoke(CLI_TOKEN_NAME);
  const t = store.tokens.create(CLI_TOKEN_NAME);
  const file = cliTokenFileOf(stateDir);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // written aside and renamed: a CLI reading it meanwhile sees the old secret or the new, never half
  writeFileSync(`${file}.tmp`, `${t.secret}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}
