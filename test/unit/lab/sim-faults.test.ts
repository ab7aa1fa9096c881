/** The fleet's fault plan (src/lab/sim/faults.ts): who gets which fault, the node fault files, the site file's faults. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applySiteFaults, planFaults, readNodeFaults, spendNodeFault, writeNodeFaults } from '../../../src/lab/sim/faults.js';
import { type FleetRun, fleetViolations } from '../../../src/lab/sim/fleet-check.js';

const names = (n: number) => Array.from({ length: n }, (_, i) => `node${String(i + 1).padStart(2, '0')}`);

describe('planFaults', () => {
  it('at 50 nodes: 5 lossy BMCs, 3 wrong passwords, 3 dying clients, 1 silent NIC; disjoint and spread', () => {
    const nodes = names(50);
    const p = planFaults(nodes);
    expect([p.lossyBmc.length, p.wrongPassword.length, p.clientDies.length, p.noDhcp.length]).toEqual([5, 3, 3, 1]);
    const all = [...p.lossyBmc, ...p.wrongPassword, ...p.clientDies, ...p.noDhcp];
    expect(new Set(all).size).toBe(all.length);
    for (const n of all) expect(nodes).toContain(n);
    // spread: the lossy BMCs are 10 nodes apart, not a block
    expect(p.lossyBmc).toEqual(['node01', 'node11', 'node21', 'node31', 'node41']);
    // the same list, the same plan: a run can be repeated node by node
    expect(planFaults(nodes)).toEqual(p);
  });

  it('at 500 nodes the shares hold (50, 25, 25, 10); under 10 nodes there are none', () => {
    const p = planFaults(names(500));
    expect([p.lossyBmc.length, p.wrongPassword.length, p.clientDies.length, p.noDhcp.length]).toEqual([50, 25, 25, 10]);
    expect(new Set([...p.lossyBmc, ...p.wrongPassword, ...p.clientDies, ...p.noDhcp]).size).toBe(110);
    expect(planFaults(names(9))).toEqual({ lossyBmc: [], wrongPassword: [], clientDies: [], noDhcp: [] });
  });
});

describe('node fault files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kseed-faults-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('are read at power-on, written 0600, and a spent fault is gone from the next power-on', () => {
    expect(readNodeFaults(dir)).toEqual(new Set());
    writeNodeFaults(dir, ['no-dhcp', 'die-mid-deploy']);
    expect(statSync(path.join(dir, 'faults')).mode & 0o777).toBe(0o600);
    expect(readNodeFaults(dir)).toEqual(new Set(['no-dhcp', 'die-mid-deploy']));
    spendNodeFault(dir, 'die-mid-deploy');
    expect(readNodeFaults(dir)).toEqual(new Set(['no-dhcp']));
    expect(readFileSync(path.join(dir, 'faults'), 'utf8')).toBe('no-dhcp\n');
  });
});

describe('applySiteFaults', () => {
  const site = [
    'nodes:',
    '  - name: node01',
    '    bmc: { address: 127.0.0.1, port: 23000 }',
    '    macs: ["52:54:00:77:01:01"]',
    '  - name: node02',
    '    bmc: { address: 127.0.0.1, port: 23001 }',
    '  - name: node03',
    '    bmc: { address: 127.0.0.1, port: 23002 }',
    '',
  ].join('\n');

  it('gives a wrong-password node its own password file and a lossy node the relay address and port with a WAN budget; the others stay as they were', () => {
    const plan = { lossyBmc: ['node03'], wrongPassword: ['node01'], clientDies: ['node02'], noDhcp: [] };
    const out = applySiteFaults(site, plan, { wrongPasswordFile: '/t/wrong pw', relay: (n) => (n === 'node03' ? { address: '10.79.23.2', port: 24002 } : { address: 'nowhere', port: 0 }) });
    expect(out.split('\n')).toEqual([
      'nodes:',
      '  - name: node01',
      '    bmc: { address: 127.0.0.1, port: 23000, password: { file: "/t/wrong pw" } }',
      '    macs: ["52:54:00:77:01:01"]',
      '  - name: node02',
      '    bmc: { address: 127.0.0.1, port: 23001 }',
      '  - name: node03',
      '    bmc: { address: 10.79.23.2, port: 24002, timeout_ms: 60000, retries: 20 }',
      '',
    ]);
  });
});

describe('fleetViolations: the invariants of a faulty fleet run', () => {
  const nodes = ['a', 'b', 'c'];
  const run = (o: Partial<FleetRun> = {}): FleetRun => ({
    exitCode: 3,
    rows: [
      { node: 'a', state: 'active', booted_hostname: 'a' },
      { node: 'b', state: 'enroll failed', last_error: 'BMC 127.0.0.1:1: wrong password (RAKP 2 HMAC is invalid)' },
      { node: 'c', state: 'deploy failed', last_error: 'deploy timed out after 40 s' },
    ],
    claims: [],
    deploysOk: { a: 1, b: 0, c: 0 },
    imagesWritten: { a: 1, b: 0, c: 0 },
    deployTasks: { a: 1, b: 0, c: 1 },
    ...o,
  });

  it('a run where every node is active or failed with a reason, each image written once, no claim, exit 3: none', () => {
    expect(fleetViolations(nodes, run())).toEqual([]);
  });

  it('names each broken invariant', () => {
    const r = run({
      exitCode: 0,
      rows: [
        { node: 'a', state: 'active', booted_hostname: null },
        { node: 'b', state: 'inspecting' },
      ],
      claims: ['b'],
      deploysOk: { a: 2 },
      imagesWritten: { a: 2 },
    });
    expect(fleetViolations(nodes, r)).toEqual([
      'a: active but its OS never called back as a (null)',
      'a: 2 successful deploys',
      'a: its disk took the image 2 times',
      'b: ended in inspecting, neither active nor failed',
      'c: lost (not in status)',
      'claims left held: b',
      'provision exited 0 with 1 node(s) failed, not 3',
    ]);
    expect(fleetViolations(nodes, run({ rows: [...run().rows.slice(0, 2), { node: 'c', state: 'deploy failed', last_error: ' ' }] }))).toEqual(['c: deploy failed without a reason']);
  });

  it('a second run converges when nothing active fails or is deployed again', () => {
    const first = run();
    const ok = run({ rows: [first.rows[0]!, first.rows[1]!, { node: 'c', state: 'active', booted_hostname: 'c' }], deploysOk: { a: 1, c: 1 }, imagesWritten: { a: 1, c: 1 }, deployTasks: { a: 0, c: 1 } });
    expect(fleetViolations(nodes, ok, first)).toEqual([]);
    const bad = run({ rows: [{ node: 'a', state: 'deploy failed', last_error: 'x' }, first.rows[1]!, first.rows[2]!], deployTasks: { a: 1 } });
    expect(fleetViolations(nodes, bad, first)).toEqual(['a: was active, now deploy failed', 'a: was active, deployed again']);
  });
});
