import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IMAGE_TEMPLATES_DIR, inputHash, loadTemplates, renderDockerfile } from '../../../../src/images/seed/dockerfile.js';
import { SEED_SERVICES, SERVICE_ORDER, parseServices } from '../../../../src/images/seed/services.js';

const view = (s: keyof typeof SEED_SERVICES, offline = false) => ({
  service: SEED_SERVICES[s].template,
  image: `kseed/${SEED_SERVICES[s].template}:0.1.0`,
  base: 'kseed/base:bookworm-0123456789ab',
  packages: SEED_SERVICES[s].packages,
  debconf: SEED_SERVICES[s].debconf,
  offline,
});

const tmp = mkdtempSync(path.join(tmpdir(), 'kseed-seedimg-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('seed Dockerfile templates', () => {
  it('renders every service FROM the base with policy-rc.d, its packages and cleanup', () => {
    for (const s of SERVICE_ORDER) {
      const df = renderDockerfile(loadTemplates(SEED_SERVICES[s]), view(s));
      expect(df).toMatch(/^FROM kseed\/base:bookworm-0123456789ab$/m);
      expect(df).toContain('exit 101');
      expect(df).toContain(`apt-get install -y --no-install-recommends ${SEED_SERVICES[s].packages.join(' ')} \\`);
      expect(df).toContain('rm -rf /var/lib/apt/lists/*');
      expect(df).toMatch(/^CMD \[/m);
      expect(df).not.toContain('FROM scratch');
      expect(df).not.toContain('--network');
    }
  });

  it('preseeds the ironic debconf keys that would otherwise configure a database', () => {
    const df = renderDockerfile(loadTemplates(SEED_SERVICES.ironic), view('ironic'));
    expect(df).toContain("'ironic-common ironic/configure_db boolean false' \\");
    expect(df).toContain("'ironic-common ironic/enabled_drivers multiselect ' \\");
    expect(df).toContain('| debconf-set-selections');
    // Services without debconf answers get no debconf-set-selections at all.
    expect(renderDockerfile(loadTemplates(SEED_SERVICES.registry), view('registry'))).not.toContain('debconf-set-selections');
  });

  it('offline: installs the copied .debs without apt-get update and flattens FROM scratch', () => {
    const df = renderDockerfile(loadTemplates(SEED_SERVICES.ironic), view('ironic', true));
    expect(df).toMatch(/^FROM kseed\/base:bookworm-0123456789ab AS build$/m);
    expect(df).toContain('COPY . /tmp/debs/');
    expect(df).toContain('apt-get install -y --no-install-recommends /tmp/debs/*.deb');
    expect(df).not.toContain('apt-get update');
    expect(df).toMatch(/^FROM scratch\nCOPY --from=build \/ \/$/m);
  });

  it('refuses a debconf answer that would break out of its shell quotes', () => {
    expect(() =>
      renderDockerfile(loadTemplates(SEED_SERVICES.ironic), { ...view('ironic'), debconf: ["x y boolean 'true"] }),
    ).toThrow(/single quote/);
  });

  it('parses --only names: service names and image names, in build order', () => {
    expect(parseServices('registry,ironic-inspector,ironic')).toEqual(['ironic', 'registry', 'inspector']);
    expect(parseServices('kseed/http, dnsmasq')).toEqual(['dnsmasq', 'http']);
    expect(() => parseServices('ironic,postgres')).toThrow(/unknown service "postgres"/);
  });
});

describe('input hash', () => {
  const df = () => renderDockerfile(loadTemplates(SEED_SERVICES.dnsmasq), view('dnsmasq'));

  it('is stable for the same inputs and a 64-hex sha256', () => {
    const a = inputHash({ dockerfile: df(), baseId: 'sha256:aa' });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(inputHash({ dockerfile: df(), baseId: 'sha256:aa' })).toBe(a);
    expect(inputHash({ dockerfile: df(), baseId: 'sha256:aa', debs: ['b.deb:2', 'a.deb:1'] })).toBe(
      inputHash({ dockerfile: df(), baseId: 'sha256:aa', debs: ['a.deb:1', 'b.deb:2'] }),
    );
  });

  it('changes with the base image, the package list and the .debs', () => {
    const a = inputHash({ dockerfile: df(), baseId: 'sha256:aa' });
    expect(inputHash({ dockerfile: df(), baseId: 'sha256:bb' })).not.toBe(a);
    const more = renderDockerfile(loadTemplates(SEED_SERVICES.dnsmasq), { ...view('dnsmasq'), packages: ['dnsmasq-base', 'ipxe', 'curl'] });
    expect(inputHash({ dockerfile: more, baseId: 'sha256:aa' })).not.toBe(a);
    expect(inputHash({ dockerfile: df(), baseId: 'sha256:aa', debs: ['a.deb:1'] })).not.toBe(a);
  });

  it('changes when a service template or a shared partial changes, not otherwise', () => {
    const dir = path.join(tmp, 'templates');
    cpSync(IMAGE_TEMPLATES_DIR, dir, { recursive: true });
    const hash = () => inputHash({ dockerfile: renderDockerfile(loadTemplates(SEED_SERVICES.http, dir), view('http')), baseId: 'sha256:aa' });
    const orig = hash();
    expect(hash()).toBe(orig);
    const svcFile = path.join(dir, 'http.Dockerfile.hbs');
    writeFileSync(svcFile, `${readFileSync(svcFile, 'utf8')}EXPOSE 8080\n`);
    const afterSvc = hash();
    expect(afterSvc).not.toBe(orig);
    const partial = path.join(dir, 'partials', 'install.hbs');
    writeFileSync(partial, readFileSync(partial, 'utf8').replace('apt-get upgrade -y', 'apt-get dist-upgrade -y'));
    expect(hash()).not.toBe(afterSvc);
    // The hash covers the template, not the registry image's: http's edits leave registry alone.
    const reg = (d: string) => inputHash({ dockerfile: renderDockerfile(loadTemplates(SEED_SERVICES.registry, d), view('registry')), baseId: 'sha256:aa' });
    writeFileSync(partial, readFileSync(path.join(IMAGE_TEMPLATES_DIR, 'partials', 'install.hbs'), 'utf8'));
    expect(reg(dir)).toBe(reg(IMAGE_TEMPLATES_DIR));
  });
});
