/**
 * The Debian mirror the base image uses is the host's own: whatever apt on
 * this machine reaches (a local mirror, a proxy, a snapshot) is what an
 * air-gapped or firewalled site already made work. Both apt formats are
 * read: one-line `.list` (sources.list(5) "ONE-LINE-STYLE FORMAT") and
 * deb822 `.sources` ("DEB822-STYLE FORMAT").
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
  enabled: boolean;
}

export function parseOneLine(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    // Options sit in one bracketed group after the type: `deb [arch=amd64 signed-by=...] uri suite comp...`
    const m = /^(\S+)\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      types: [m[1]!],
      uris: [m[2]!],
      suites: [m[3]!],
      components: (m[4] ?? '').split(/\s+/).filter(Boolean),
      enabled: true,
    });
  }
  return out;
}

export function parseDeb822(text: string): AptSource[] {
  const out: AptSource[] = [];
  // Stanzas are separated by blank lines; comment lines are dropped first so
  // they neither end a stanza nor continue a field.
  const lines = text.split('\n').filter((l) => !l.startsWith('#'));
  for (const stanza of lines.join('\n').split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let key: string | undefined;
    for (const line of stanza.split('\n')) {
      if (/^\s/.test(line) && key) {
        fields.set(key, `${fields.get(key)} ${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (!m) continue;
      key = m[1]!.toLowerCase();
      fields.set(key, m[2]!.trim());
    }
    const list = (k: string) => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    if (!fields.has('uris')) continue;
    out.push({
      types: list('types'),
      uris: list('uris'),
      suites: list('suites'),
      components: list('components'),
      enabled: !/^(no|false)$/i.test(fields.get('enabled') ?? 'yes'),
    });
  }
  return out;
}

/** Every source apt itself would read under `etcApt` (default /etc/apt). */
export function readHostSources(etcApt = '/etc/apt'): AptSource[] {
  const out: AptSource[] = [];
  const main = path.join(etcApt, 'sources.list');
  if (existsSync(main)) out.push(...parseOneLine(readFileSync(main, 'utf8')));
  const dir = path.join(etcApt, 'sources.list.d');
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    // no sources.list.d: fine
  }
  for (const n of names) {
    // apt ignores files with other extensions (e.g. "*.disabled"), and so do we.
    if (n.endsWith('.list')) out.push(...parseOneLine(readFileSync(path.join(dir, n), 'utf8')));
    else if (n.endsWith('.sources')) out.push(...parseDeb822(readFileSync(path.join(dir, n), 'utf8')));
  }
  return out;
}

export interface Mirrors {
  /** Serves `<suite>` and `<suite>-updates`. */
  mirror: string;
  /** Serves `<suite>-security`. */
  security: string;
  /** True when the host's apt sources named them (false: Debian's public defaults). */
  fromHost: boolean;
}

export const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
export const DEFAULT_SECURITY = 'http://deb.debian.org/debian-security';

const trimSlash = (u: string) => u.replace(/\/+$/, '');

/**
 * The host entries that serve `suite` (binary packages, enabled, with main).
 * apt's `mirror+file:` and `cdrom:` schemes make no sense inside a container
 * build, so only http(s)/ftp/file URIs count.
 */
export function pickMirrors(sources: AptSource[], suite: string): Mirrors {
  const usable = sources.filter(
    (s) => s.enabled && s.types.includes('deb') && s.components.includes('main'),
  );
  const uriFor = (want: string) => {
    for (const s of usable) {
      if (!s.suites.includes(want)) continue;
      const u = s.uris.find((x) => /^(https?|ftp):\/\//.test(x));
      if (u) return trimSlash(u);
    }
    return undefined;
  };
  const mirror = uriFor(suite);
  const security = uriFor(`${suite}-security`);
  return {
    mirror: mirror ?? DEFAULT_MIRROR,
    // Debian's layout puts security next to the archive: .../debian -> .../debian-security.
    security: security ?? (mirror ? `${mirror}-security` : DEFAULT_SECURITY),
    fromHost: Boolean(mirror),
  };
}

/** The base image's sources.list: debootstrap alone writes only `<suite> main`. */
export function sourcesList(suite: string, m: Pick<Mirrors, 'mirror' | 'security'>): string {
  return [
    `deb ${m.mirror} ${suite} main`,
    `deb ${m.mirror} ${suite}-updates main`,
    `deb ${m.security} ${suite}-security main`,
    '',
  ].join('\n');
}
