import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BmcIdentity } from '../../../src/bmc/types.js';
import { formatProblem, InputError } from '../../../src/errors.js';
import { BUILTIN_PROFILES_DIR, profileDirs } from '../../../src/site/profile-dirs.js';
import { checkProfileFile, loadProfiles } from '../../../src/profiles/load.js';
import { matchProfile, rankProfiles } from '../../../src/profiles/match.js';
import type { HardwareProfile } from '../../../src/profiles/schema.js';

const root = mkdtempSync(path.join(tmpdir(), 'kseed-profiles-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const QEMU = readFileSync(path.join(BUILTIN_PROFILES_DIR, 'qemu-lab.yaml'), 'utf8');

function profileFile(name: string, text: string, dir = root): string {
  mkdirSync(dir, { recursive: true });
  const f = path.join(dir, `${name}.yaml`);
  writeFileSync(f, text);
  return f;
}
const lineOf = (text: string, s: string) => text.split('\n').findIndex((l) => l.includes(s)) + 1;

describe('shipped hardware profiles', () => {
  it('all load without problems', async () => {
    const ps = await loadProfiles();
    expect(ps.map((p) => p.name)).toEqual(['dell-poweredge', 'hpe-proliant', 'lenovo-thinksystem', 'qemu-lab-redfish', 'qemu-lab', 'supermicro']);
    for (const p of ps) {
      expect(p.bmc.timeout_ms).toBeGreaterThan(0);
      expect(p.ironic.driver).toMatch(/^(ipmi|redfish)$/);
    }
    const qemu = ps.find((p) => p.name === 'qemu-lab')!;
    expect(qemu.match.ipmi).toEqual({ manufacturer_id: [4753], product_id: [{ min: 0x0f02, max: 0x0f02 }] });
    expect(qemu.bmc).toMatchObject({ protocol: 'ipmi', cipher_suite: 3 });
    expect(qemu.quirks).toEqual(['ipmi-no-cipher-suite-list']);
    expect(qemu.root_device).toEqual({ name: '/dev/vda' });
    // the lab's Redfish BMC reports the FRU names of its ipmi_sim (src/lab/redfish/resources.ts)
    const rf = ps.find((p) => p.name === 'qemu-lab-redfish')!;
    expect(rf.bmc).toMatchObject({ protocol: 'redfish', insecure_tls: true });
    expect(rf.ironic).toMatchObject({ driver: 'redfish', power: 'redfish', management: 'redfish' });
  });
});

describe('malformed hardware profiles', () => {
  const cases: { name: string; edit: [string, string]; problems: (text: string) => string[] }[] = [
    {
      name: 'manufacturer id is a string',
      edit: ['manufacturer_id: [4753]', 'manufacturer_id: ["4753"]'],
      problems: (t) => [`${lineOf(t, 'manufacturer_id')}:23 match.ipmi.manufacturer_id[0]: must be a number, not the string "4753"`],
    },
    {
      name: 'invalid regular expression',
      edit: ['manufacturer: "^KSLab$"', 'manufacturer: "^KSLab($"'],
      problems: (t) => [`${lineOf(t, 'manufacturer: "^KSLab(')}:19 match.fru.manufacturer: not a valid regular expression: Invalid regular expression: /^KSLab($/i: Unterminated group`],
    },
    {
      name: 'unknown quirk',
      edit: ['  - ipmi-no-cipher-suite-list', '  - ipmi-no-cipher-list'],
      problems: (t) => [
        `${lineOf(t, '- ipmi-no-cipher-list')}:5 quirks[0]: "ipmi-no-cipher-list" is not one of uefi-snponly, ipmi-lan-disabled-by-default, ipmi-no-cipher-suite-list, bootdev-needs-efi-flag, bootdev-not-forwarded, redfish-self-signed-cert, redfish-slow-power, bmc-session-limit, power-off-settle (did you mean "ipmi-no-cipher-suite-list"?)`,
      ],
    },
    {
      name: 'product id range reversed',
      edit: ['product_id: [0x0f02]', 'product_id: ["0x0f02-0x0e00"]'],
      problems: (t) => [`${lineOf(t, 'product_id')}:18 match.ipmi.product_id[0]: "0x0f02-0x0e00" is not a product id: a number 0-65535 or a range like 0x0100-0x01ff`],
    },
    {
      name: 'unknown key with a typo',
      edit: ['  timeout_ms: 5000', '  timeout: 5000'],
      problems: (t) => [`${lineOf(t, 'bmc:') + 1}:3 bmc.timeout_ms: is required`, `${lineOf(t, '  timeout: 5000')}:3 bmc.timeout: unknown key "timeout" (did you mean "timeout_ms"?)`],
    },
    {
      name: 'name does not match the file',
      edit: ['name: qemu-lab', 'name: qemu-lan'],
      problems: () => ['1:1 name: name "qemu-lan" must match the file name "qemu-lab"'.replace('1:1', `${lineOf(QEMU, 'name: qemu-lab')}:7`)],
    },
    {
      name: 'bad ironic interface',
      edit: ['  power: ipmitool', '  power: ipmi'],
      problems: (t) => [`${lineOf(t, '  power: ipmi')}:10 ironic.power: "ipmi" is not one of ipmitool, redfish, idrac-redfish, ilo (did you mean "ipmitool"?)`],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      expect(QEMU).toContain(c.edit[0]);
      const text = QEMU.replace(c.edit[0], c.edit[1]);
      const f = profileFile('qemu-lab', text, path.join(root, c.name.replace(/\W+/g, '-')));
      const r = await checkProfileFile(f);
      expect(r.profile).toBeUndefined();
      expect(r.problems.map(formatProblem)).toEqual(c.problems(text).map((p) => `${f}:${p}`));
    });
  }

  it('a profile that nothing can match is refused', async () => {
    const f = profileFile('nomatch', 'name: nomatch\ndescription: x\nvendor: x\nmatch: {}\nbmc: { protocol: ipmi, timeout_ms: 1000, retries: 1 }\nboot: { mode: uefi }\nironic: { driver: ipmi, boot: ipxe, deploy: direct, power: ipmitool, management: ipmitool, inspect: no-inspect }\n');
    expect((await checkProfileFile(f)).problems.map(formatProblem)).toEqual([`${f}:4:8 match: give at least one of ipmi, fru, redfish: a profile nothing matches is dead`]);
  });

  it('loadProfiles throws one InputError with the problems of every file', async () => {
    const dir = path.join(root, 'multi');
    profileFile('a', 'name: a\n', dir);
    profileFile('b', 'name: [\n', dir);
    const err = (await loadProfiles([dir]).catch((e: unknown) => e)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.exitCode).toBe(2);
    expect(err.problems.map((p) => `${path.basename(p.file)}:${p.line}:${p.col} ${p.path ?? ''}`)).toEqual([
      'a.yaml:1:1 description',
      'a.yaml:1:1 vendor',
      'a.yaml:1:1 match',
      'a.yaml:1:1 bmc',
      'a.yaml:1:1 boot',
      'a.yaml:1:1 ironic',
      'b.yaml:2:1 ',
    ]);
  });
});

describe('matchProfile', () => {
  let profiles: HardwareProfile[];
  beforeAll(async () => {
    profiles = await loadProfiles();
  });
  const best = (id: BmcIdentity) => matchProfile(id, profiles);

  it('recognises the lab BMC from everything ipmi_sim reports', () => {
    // what `mc info` and `fru print` report for the lab's ipmi_sim (reference/lab.md)
    const m = best({ protocol: 'ipmi', manufacturerId: 4753, productId: 0x0f02, manufacturer: 'KSLab', productName: 'KSLab Virtual Server', boardProduct: 'KSLab Board' })!;
    expect(m.profile.name).toBe('qemu-lab');
    expect(m.score).toBe(125);
    expect(m.reasons).toEqual(['IPMI manufacturer id 4753', 'IPMI product id 0x0f02', 'FRU manufacturer "KSLab"', 'FRU product "KSLab Virtual Server"', 'FRU board "KSLab Board"']);
  });

  it('matches vendors by IANA number, FRU and Redfish names', () => {
    const cases: [BmcIdentity, string, number][] = [
      [{ protocol: 'redfish', manufacturer: 'Dell Inc.', model: 'PowerEdge R650' }, 'dell-poweredge', 80],
      [{ protocol: 'ipmi', manufacturerId: 674, productId: 0x0100, manufacturer: 'DELL', productName: 'PowerEdge R740' }, 'dell-poweredge', 85],
      [{ protocol: 'ipmi', manufacturerId: 47196 }, 'hpe-proliant', 50],
      [{ protocol: 'ipmi', manufacturerId: 11, productName: 'ProLiant DL360 Gen9' }, 'hpe-proliant', 65],
      [{ protocol: 'redfish', manufacturer: 'HPE', model: 'ProLiant DL380 Gen10 Plus' }, 'hpe-proliant', 80],
      [{ protocol: 'ipmi', manufacturerId: 10876, manufacturer: 'Supermicro', boardProduct: 'X12DPi-NT6' }, 'supermicro', 80],
      [{ protocol: 'redfish', manufacturer: 'Lenovo', model: '7Z73CTO1WW' }, 'lenovo-thinksystem', 80],
      [{ protocol: 'ipmi', manufacturerId: 20301, productName: 'ThinkSystem SR650' }, 'lenovo-thinksystem', 65],
    ];
    for (const [id, name, score] of cases) {
      const m = best(id);
      expect({ name: m?.profile.name, score: m?.score }, JSON.stringify(id)).toEqual({ name, score });
    }
  });

  it('a contradicting vendor rules a profile out; an unlisted model still matches the family', () => {
    // HPE's model regex would match, but the Redfish Manufacturer says Dell
    expect(rankProfiles({ protocol: 'redfish', manufacturer: 'Dell Inc.', model: 'ProLiant DL380' }, profiles).map((m) => [m.profile.name, m.score])).toEqual([['dell-poweredge', 50]]);
    // qemu-lab lists product 0x0f02 only; another product of the same vendor is still the family
    expect(best({ protocol: 'ipmi', manufacturerId: 4753, productId: 0x0001 })).toMatchObject({ score: 50, profile: { name: 'qemu-lab' } });
  });

  it('returns undefined for unknown vendors and empty identities', () => {
    expect(best({ protocol: 'ipmi', manufacturerId: 343, productName: 'S2600WF' })).toBeUndefined(); // Intel
    expect(best({ protocol: 'redfish', manufacturer: 'Contoso', model: 'PowerEdge R650' })).toBeUndefined();
    expect(best({ protocol: 'ipmi' })).toBeUndefined();
  });

  it("on a tie, the site's own profile beats the shipped one", async () => {
    const siteDir = path.join(root, 'site');
    const text = readFileSync(path.join(BUILTIN_PROFILES_DIR, 'dell-poweredge.yaml'), 'utf8').replace('name: dell-poweredge', 'name: dell-r650').replace('model: "^PowerEdge "', 'model: "^PowerEdge R650$"');
    profileFile('dell-r650', text, path.join(siteDir, 'hardware-profiles'));
    const all = await loadProfiles(profileDirs(siteDir));
    const ranked = rankProfiles({ protocol: 'redfish', manufacturer: 'Dell Inc.', model: 'PowerEdge R650' }, all);
    expect(ranked.map((m) => [m.profile.name, m.score])).toEqual([
      ['dell-r650', 80],
      ['dell-poweredge', 80],
    ]);
    expect(best({ protocol: 'redfish', manufacturer: 'Dell Inc.', model: 'PowerEdge R750' })!.profile.name).toBe('dell-poweredge');
  });
});
