import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatProblem, InputError } from '../../../src/errors.js';
import { checkSite, loadSite, loadSiteWithWarnings } from '../../../src/site/load.js';
import { shownPath } from '../../../src/site/yaml.js';
import { BASE, CASES, edit, SHA } from './cases.js';

const root = mkdtempSync(path.join(tmpdir(), 'kseed-site-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function siteFile(text: string, name = 'kseed.yaml'): string {
  const dir = path.join(root, String(n++));
  mkdirSync(dir);
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
}
const examples = path.resolve(import.meta.dirname, '../../../examples');

describe('malformed site files', () => {
  it('has at least 30 cases', () => expect(CASES.length).toBeGreaterThanOrEqual(30));
  for (const c of CASES) {
    it(c.name, async () => {
      const f = siteFile(c.yaml);
      const r = await checkSite(f);
      expect(r.site).toBeUndefined();
      expect(r.problems.map(formatProblem)).toEqual(c.problems.map((p) => `${f}:${p}`));
      const err = await loadSite(f).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).exitCode).toBe(2);
      expect((err as InputError).problems).toEqual(r.problems);
    });
  }

  it('reports every problem of a file at once, in file order', async () => {
    let y = edit('engine: embedded', 'engine: docker');
    y = edit('"52:54:00:00:00:01"', '"52:54:00:00:00:0g"', y);
    y = edit('port: 17001', 'port: 0', y);
    y = edit('range: 10.77.0.100-10.77.0.199', 'range: 10.77.0.1-10.77.0.199', y);
    y += '  - name: n1\n    bmc: { address: 127.0.0.1, port: 17003 }\n    macs: ["52:54:00:00:00:03"]\n    roles: [storgae]\n';
    const f = siteFile(y);
    const { problems } = await checkSite(f);
    expect(problems.map((p) => `${p.line}:${p.col} ${p.path}`)).toEqual([
      '2:9 engine',
      '6:39 seed.dhcp.range',
      '13:38 nodes[0].bmc.port',
      '14:12 nodes[0].macs[0]',
      '15:11 nodes[1].name',
      '18:13 nodes[1].roles[0]',
    ]);
  });

  it('never echoes a secret in a problem', async () => {
    const f = siteFile(edit('password: { env: KSEED_BMC_PASSWORD }', 'password: "hunter2-s3cret"'));
    const { problems } = await checkSite(f);
    expect(problems).toHaveLength(1);
    expect(JSON.stringify(problems)).not.toContain('hunter2');
    const g = siteFile(edit('password: { env: KSEED_BMC_PASSWORD }', 'password: { env: "hunter2 s3cret" }'));
    expect(JSON.stringify((await checkSite(g)).problems)).toContain('is not an environment variable name');
    const h = siteFile(edit('{ username: admin,', '{ privilege: hunter2, username: admin,', edit('password: { env: KSEED_BMC_PASSWORD }', 'password: { file: p, vlaue: x }')));
    const ps = JSON.stringify((await checkSite(h)).problems);
    expect(ps).toContain('defaults.bmc.password');
    expect(ps).not.toContain('"x"');
  });

  it('a missing site file is one problem, exit 2', async () => {
    const f = path.join(root, 'nope', 'kseed.yaml');
    const err = (await loadSite(f).catch((e: unknown) => e)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.problems.map(formatProblem)).toEqual([`${f}: site file not found`]);
  });
});

describe('valid site files', () => {
  it('loads examples/lab.yaml with defaults merged into nodes', async () => {
    const { site, warnings } = await loadSiteWithWarnings(path.join(examples, 'lab.yaml'));
    // the starter names no image until `kseed images testos` built one (issue 16: no placeholder that nothing builds)
    expect(warnings.map((w) => w.message)).toEqual([
      'node "node1" has no image (here or in defaults): it can be enrolled but not deployed',
      'node "node2" has no image (here or in defaults): it can be enrolled but not deployed',
    ]);
    expect(site.file).toBe(path.join(examples, 'lab.yaml'));
    expect(site.dir).toBe(examples);
    expect(site.seed).toEqual({
      interface: 'ksl-br0',
      netns: 'ksl-lab',
      address: '10.77.0.1',
      prefix: 24,
      dhcp: { mode: 'authoritative', range: { start: '10.77.0.100', end: '10.77.0.199' }, lease_seconds: 3600 },
      ports: { http: 8080, tftp: 69, ironic_api: 6385, registry: 5000, inspector: 5050, api: 9480 },
    });
    expect(site.nodes.map((x) => x.name)).toEqual(['node1', 'node2']);
    expect(site.nodes[1]).toEqual({
      name: 'node2',
      bmc: { type: 'ipmi', address: '127.0.0.1', port: 17002, username: 'admin', password: { env: 'KSEED_BMC_PASSWORD' }, cipher_suite: 3 },
      macs: ['52:54:00:77:00:02'],
      roles: ['compute', 'storage'],
      profile: 'qemu-lab',
      root_device: { name: '/dev/vda' },
      image: site.defaults.image,
      boot_mode: 'bios',
      ip: '10.77.0.12',
      // the `name:` of node2's mapping, wherever the example puts it
      source: { line: readFileSync(path.join(examples, 'lab.yaml'), 'utf8').split('\n').indexOf('  - name: node2') + 1, col: 5 },
    });
    expect(site.registry).toEqual({ enabled: true, username: 'kseed' });
    expect(site.ironic).toEqual({ deploy_interface: 'direct', inspector: false, min_command_interval: 1, conductors: 1 });
    expect(site.handoff.kolla).toMatchObject({ release: '2024.1', base_distro: 'debian', vip: '10.77.0.250' });
  });

  it('loads examples/rack.yaml: 3 controllers, 5 computes, 3 storage nodes, mixed vendors', async () => {
    const { site, warnings } = await loadSiteWithWarnings(path.join(examples, 'rack.yaml'));
    expect(warnings).toEqual([]);
    const byRole = (r: string) => site.nodes.filter((x) => x.roles.includes(r as never)).length;
    expect([byRole('control'), byRole('compute'), byRole('storage')]).toEqual([3, 5, 3]);
    expect(new Set(site.nodes.map((x) => x.profile))).toEqual(new Set(['dell-poweredge', 'supermicro', 'lenovo-thinksystem', 'hpe-proliant']));
    const stor = site.nodes.find((x) => x.name === 'stor01')!;
    // redfish defaults to 443; a node's own hint replaces the default hint whole
    expect(stor.bmc).toMatchObject({ type: 'redfish', port: 443, username: 'Administrator', password: { file: 'secrets/ilo.pass' } });
    expect(stor.root_device).toEqual({ serial: 'PHYF1234005F480BGN' });
    expect(site.nodes.find((x) => x.name === 'ctl01')!.bmc).toMatchObject({ type: 'redfish', port: 443, username: 'root' });
    expect(site.nodes.find((x) => x.name === 'cmp01')!.bmc).toMatchObject({ type: 'ipmi', port: 623, username: 'ADMIN' });
    expect(site.defaults.image!.format).toBe('qcow2');
    expect(site.engine).toBe('ironic');
  });

  it('normalises MACs and infers defaults', async () => {
    let y = edit('["52:54:00:00:00:01"]', '["52-54-00-AB-CD-EF", "5254.00ab.cd0f", "525400ABCD1F"]');
    y = edit('image: { url: "http://10.77.0.1:8080/i.raw"', 'image: { url: "http://10.77.0.1:8080/i.qcow2"', y);
    const site = await loadSite(siteFile(y));
    expect(site.nodes[0]!.macs).toEqual(['52:54:00:ab:cd:ef', '52:54:00:ab:cd:0f', '52:54:00:ab:cd:1f']);
    expect(site.nodes[0]!.roles).toEqual([]);
    expect(site.nodes[0]!.image).toEqual({ url: 'http://10.77.0.1:8080/i.qcow2', checksum: SHA, format: 'qcow2' });
    expect(site.nodes[0]!.bmc.port).toBe(17001);
  });

  it('accepts virtual-media boot of a Redfish node on the ironic engine (redfish-virtual-media)', async () => {
    const y = edit('engine: embedded', 'engine: ironic', edit('  root_device:', '  boot: virtual-media\n  root_device:', edit('{ username: admin,', '{ type: redfish, username: admin,')));
    const { site, warnings } = await loadSiteWithWarnings(siteFile(y));
    expect(site.engine).toBe('ironic');
    expect(site.nodes[0]!.boot).toBe('virtual-media');
    expect(warnings).toEqual([]);
  });

  it('accepts a range as { start, end } and proxy mode without a range', async () => {
    const a = await loadSite(siteFile(edit('range: 10.77.0.100-10.77.0.199', 'range: { start: 10.77.0.10, end: 10.77.0.20 }')));
    expect(a.seed.dhcp.range).toEqual({ start: '10.77.0.10', end: '10.77.0.20' });
    const b = await loadSite(siteFile(edit('dhcp: { mode: authoritative, range: 10.77.0.100-10.77.0.199 }', 'dhcp: { mode: proxy }')));
    expect(b.seed.dhcp).toEqual({ mode: 'proxy', lease_seconds: 3600 });
  });

  it('warns about inline secrets, fixed addresses in the dynamic range, ignored ranges, missing hints', async () => {
    let y = edit('password: { env: KSEED_BMC_PASSWORD }', 'password: { value: "pw-inline" }');
    y = edit('    macs: ["52:54:00:00:00:01"]\n', '    macs: ["52:54:00:00:00:01"]\n    ip: 10.77.0.150\n', y);
    y = edit('  root_device: { name: /dev/vda }\n', '', y);
    const f = siteFile(y);
    const { site, warnings } = await loadSiteWithWarnings(f);
    expect(site.nodes[0]!.bmc.password).toEqual({ value: 'pw-inline' });
    expect(warnings.map(formatProblem)).toEqual([
      `${f}:8:37 defaults.bmc.password: inline secret: anyone who can read this file has it; prefer { env: NAME } or { file: PATH }`,
      `${f}:11:5 nodes[0]: node "n1" has no root_device hint (here or in defaults): deploys will refuse to choose a disk`,
      `${f}:14:9 nodes[0].ip: 10.77.0.150 is inside the dynamic range 10.77.0.100-10.77.0.199; a fixed address outside it avoids surprises`,
    ]);
    expect(JSON.stringify(warnings)).not.toContain('pw-inline');
    const g = siteFile(edit('mode: authoritative', 'mode: proxy'));
    expect((await loadSiteWithWarnings(g)).warnings.map((w) => w.message)).toEqual(['range is ignored in proxy mode: kseed hands out no addresses']);
  });

  it('knows the hardware profiles beside the site file', async () => {
    const y = edit('    macs: ["52:54:00:00:00:01"]\n', '    macs: ["52:54:00:00:00:01"]\n    profile: my-box\n');
    const f = siteFile(y);
    const bad = await checkSite(f);
    expect(bad.problems.map((p) => p.message)[0]).toMatch(/^unknown hardware profile "my-box"/);
    mkdirSync(path.join(path.dirname(f), 'hardware-profiles'));
    copyFileSync(path.join(examples, '../hardware-profiles/qemu-lab.yaml'), path.join(path.dirname(f), 'hardware-profiles/my-box.yaml'));
    expect((await loadSite(f)).nodes[0]!.profile).toBe('my-box');
  });

  it('shows paths relative to the working directory when inside it', () => {
    expect(shownPath(path.join(process.cwd(), 'sub', 'kseed.yaml'))).toBe(path.join('sub', 'kseed.yaml'));
    expect(shownPath('/elsewhere/kseed.yaml')).toBe('/elsewhere/kseed.yaml');
  });

  it('the BASE fixture itself is valid and warning-free', async () => {
    expect(await checkSite(siteFile(BASE))).toMatchObject({ problems: [], warnings: [] });
  });
});
