/**
 * Kolla's interfaces for nodes whose site file `network` names them: the
 * installed OS uses those names (NICs renamed by MAC, bonds, VLANs), not
 * the ramdisk's that inspection reported.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openState } from '../../../src/engine/state.js';
import { gatherFacts, type Assumption, type NodeFacts } from '../../../src/handoff/facts.js';
import { chooseInterfaces } from '../../../src/handoff/kolla.js';
import { loadSite } from '../../../src/site/load.js';
import { NET_BASE, netEdit } from '../site/cases.js';

const rack = path.resolve(import.meta.dirname, '../../../examples/rack.yaml');
const inspected = (mac: string) => ({ nics: [{ name: 'ens3', mac, link: true }, { name: 'ens4', mac: '52:54:00:00:99:99', link: true }] });

describe('interfaces from the site file network', () => {
  it('rack.yaml: every node gets the shared VLAN name `api`; the network hosts `ext`; no warning, no assumption', async () => {
    const site = await loadSite(rack);
    const warnings: string[] = [];
    const assumptions: Assumption[] = [];
    const got = site.nodes.map((spec) => {
      const f = { spec, addressSource: 'site', inventory: inspected(spec.macs[0]!) } as unknown as NodeFacts;
      return [spec.name, chooseInterfaces(f, site, assumptions, warnings)];
    });
    expect(Object.fromEntries(got)).toMatchObject({
      ctl01: { network_interface: 'api', neutron_external_interface: 'ext', from: 'site' },
      cmp01: { network_interface: 'api', neutron_external_interface: 'ext', from: 'site' },
      stor03: { network_interface: 'api', neutron_external_interface: 'ext', from: 'site' },
    });
    expect(warnings).toEqual([]);
    expect(assumptions).toEqual([]);
  });

  it('without a kolla.network_interface: the interface carrying the PXE NIC, the bond when it is a member; a name the network lacks is a warning', async () => {
    const site = await loadSite(rack);
    site.handoff.kolla = { ...site.handoff.kolla!, network_interface: undefined, neutron_external_interface: 'eno9' };
    const warnings: string[] = [];
    const ctl = chooseInterfaces({ spec: site.nodes[0]!, addressSource: 'site' } as unknown as NodeFacts, site, [], warnings);
    expect(ctl).toEqual({ network_interface: 'bond0', neutron_external_interface: 'api', from: 'site' });
    const cmp = chooseInterfaces({ spec: site.nodes[3]!, addressSource: 'site' } as unknown as NodeFacts, site, [], warnings);
    expect(cmp).toEqual({ network_interface: 'eno1', neutron_external_interface: 'eno9', from: 'site' });
    expect(warnings).toEqual(['ctl01: site handoff.kolla.neutron_external_interface eno9 is not a usable interface of this node\'s network (bond0, api, storage, ext); using api']);
  });
});

describe('the hand-off address of a node with a fixed network', () => {
  it('is the IPv4 address on the interface carrying its PXE NIC, over a DHCP lease the OS no longer has', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kseed-ho-'));
    try {
      // n2: no address on the PXE side (a VLAN only): the lease stands
      const y = netEdit('bond0: { members: ["52:54:00:00:00:03", "52:54:00:00:00:04"], addresses: [10.77.0.12/24] }', 'bond0: { members: ["52:54:00:00:00:03", "52:54:00:00:00:04"] }');
      writeFileSync(path.join(dir, 'kseed.yaml'), y);
      const site = await loadSite(path.join(dir, 'kseed.yaml'));
      const st = openState(path.join(dir, '.kseed'));
      st.ensureNode('n1', { ip: '10.77.0.150' });
      st.ensureNode('n2', { ip: '10.77.0.151' });
      const facts = gatherFacts(site, st, []);
      st.close();
      expect(facts.map((f) => [f.spec.name, f.address, f.addressSource])).toEqual([
        ['n1', '10.77.0.11', 'site'],
        ['n2', '10.77.0.151', 'state'],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
