import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MIRROR, parseDeb822, parseOneLine, pickMirrors, readHostSources, sourcesList } from '../../../../src/images/seed/sources.js';
import { failureReason } from '../../../../src/images/seed/build.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'kseed-sources-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('host apt sources', () => {
  it('reads one-line entries with options and skips deb-src and comments', () => {
    const s = parseOneLine(
      '# local mirror\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.lan/debian/ bookworm main contrib\ndeb-src http://x/debian bookworm main\n',
    );
    expect(s).toHaveLength(2);
    expect(s[0]).toMatchObject({ types: ['deb'], uris: ['http://mirror.lan/debian/'], suites: ['bookworm'], components: ['main', 'contrib'] });
    expect(pickMirrors(s, 'bookworm')).toEqual({
      mirror: 'http://mirror.lan/debian',
      security: 'http://mirror.lan/debian-security',
      fromHost: true,
    });
  });

  it('reads deb822 stanzas (several suites, comments, Enabled: no)', () => {
    const s = parseDeb822(
      [
        'Types: deb',
        '# http://snapshot.debian.org/archive/debian/20250520T000000Z',
        'URIs: http://deb.example/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        '',
        'Types: deb',
        'URIs: http://sec.example/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        '',
        'Types: deb',
        'URIs: http://off.example/debian',
        'Suites: bookworm',
        'Components: main',
        'Enabled: no',
      ].join('\n'),
    );
    expect(s).toHaveLength(3);
    expect(s[2]!.enabled).toBe(false);
    expect(pickMirrors(s.reverse(), 'bookworm')).toEqual({ mirror: 'http://deb.example/debian', security: 'http://sec.example/debian-security', fromHost: true });
  });

  it('follows apt: only .list and .sources files in sources.list.d count', () => {
    const etc = path.join(tmp, 'apt');
    mkdirSync(path.join(etc, 'sources.list.d'), { recursive: true });
    writeFileSync(path.join(etc, 'sources.list.d', 'a.list.disabled'), 'deb http://wrong/debian bookworm main\n');
    writeFileSync(path.join(etc, 'sources.list.d', 'b.sources'), 'Types: deb\nURIs: http://right/debian\nSuites: bookworm\nComponents: main\n');
    expect(pickMirrors(readHostSources(etc), 'bookworm').mirror).toBe('http://right/debian');
  });

  it("falls back to Debian's public mirror when the host serves no such suite", () => {
    const m = pickMirrors(parseOneLine('deb http://archive.ubuntu.com/ubuntu noble main\n'), 'bookworm');
    expect(m).toEqual({ mirror: DEFAULT_MIRROR, security: 'http://deb.debian.org/debian-security', fromHost: false });
  });

  it('writes bookworm, -updates and -security', () => {
    expect(sourcesList('bookworm', { mirror: 'http://m/debian', security: 'http://m/debian-security' })).toBe(
      'deb http://m/debian bookworm main\ndeb http://m/debian bookworm-updates main\ndeb http://m/debian-security bookworm-security main\n',
    );
  });
});

describe('build failure reason', () => {
  it("prefers apt's E: line, then an error line", () => {
    expect(failureReason(['Reading package lists...', 'E: Unable to locate package nosuch', "The command '/bin/sh -c ...' returned a non-zero code: 100"])).toBe(
      'E: Unable to locate package nosuch',
    );
    expect(failureReason(['Building dependency tree...\x1b[91mE: Unable to locate package x', '\x1b[0m'])).toBe('E: Unable to locate package x');
    expect(failureReason(['Step 2/4 : RUN false', "The command '/bin/sh -c false' returned a non-zero code: 1", ''])).toBe(
      "The command '/bin/sh -c false' returned a non-zero code: 1",
    );
  });
});
