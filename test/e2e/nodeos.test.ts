/**
 * Real operating systems on disk (issue 13), end to end on the embedded
 * engine: a lab of 7 nodes, each with two NICs and a data disk, the site's
 * static network (a bond of the two NICs, a VLAN on it). Nodes 5-7 (7 is
 * UEFI) deploy the Debian 12 cloud image `kseed images os` built (qcow2,
 * 2 GiB virtual, converted once on the seed); nodes 1-4 get bad images: a
 * wrong checksum, a truncated qcow2, an image larger than their disk, a VMDK
 * posing as qcow2. One `kseed provision --all --wait --wait-booted`: the bad
 * nodes end `deploy failed` naming the image and the cause with nothing
 * written to their disks, the others finish, exit 3. Then, over SSH from the
 * lab namespace with the hand-off key: hostname, the bond and VLAN addresses,
 * the root filesystem grown to the disk, `cloud-init status --long` done
 * without errors, and `ansible all -m ping` through `kseed handoff --kolla`'s
 * inventory. Lab "os7" (netns ksl-os7), BMC ports 17700+.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openState } from '../../src/engine/state.js';
import { DEBIAN_LAB_PEERS, debianLab, SEED_ARTIFACTS as SEED, type DebianLab } from '../helpers/debian-lab.js';
import { needPeers, needRoot } from '../helpers/peers.js';

const LAB = 'os7';
const BMC_BASE = 17700;
const GiB = 1024 ** 3;
/** the nodes' system disk: the 2 GiB image grows to it; the 8 GiB bad image does not fit */
const DISK_GB = 4;
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

const ok = needRoot() && needPeers(...DEBIAN_LAB_PEERS, 'ansible');

describe.skipIf(!ok)('node OS: the Debian cloud image (qcow2) on a static-network lab, and bad images failing only their nodes', () => {
  let L: DebianLab;
  let provision: any;
  const bad: Record<string, { file: string; cause: RegExp }> = {};

  beforeAll(async () => {
    L = await debianLab({ name: LAB, nodes: 7, uefiNodes: 1, diskGb: DISK_GB, memoryMb: 1024, dataDisks: 1, dataDiskGb: 1, bmcPortBase: BMC_BASE });
    const { artifacts, os } = L;
    // the bad images, next to the good one
    writeFileSync(path.join(artifacts, 'truncated.qcow2'), readFileSync(os.path).subarray(0, 64 * 1024 * 1024));
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(artifacts, 'huge.qcow2'), '8G']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', path.join(artifacts, 'disk.vmdk'), '64M']);
    // nodes 1-4 get the bad images; 5-7 (7 is the UEFI one) the Debian image
    const per: [number, string, string, RegExp][] = [
      [0, 'debian.qcow2', `sha256:${'0'.repeat(64)}`, /: checksum mismatch: got sha256:[0-9a-f]{64}, the site file says sha256:0{64}/],
      [1, 'truncated.qcow2', `sha256:${sha(path.join(artifacts, 'truncated.qcow2'))}`, /: corrupt qcow2: qemu-img check found \d+ corruptions/],
      [2, 'huge.qcow2', `sha256:${sha(path.join(artifacts, 'huge.qcow2'))}`, new RegExp(`: too large: its virtual size 8\\.0 GiB \\(8589934592 bytes\\) does not fit /dev/vda \\(${DISK_GB}\\.0 GiB\\); nothing written`)],
      [3, 'disk.vmdk', `sha256:${sha(path.join(artifacts, 'disk.vmdk'))}`, /: unsupported format: the site file says qcow2, the file is vmdk/],
    ];
    L.editSite((doc, nodes) => {
      for (const [i, file, checksum, cause] of per) {
        nodes[i]!.set('image', doc.createNode({ url: `${SEED}/${file}`, checksum, format: 'qcow2' }));
        bad[String(nodes[i]!.get('name'))] = { file, cause };
      }
    });
    const up = await L.kseed(['--json', 'up', '--artifacts', artifacts]);
    expect(up.code, up.stderr).toBe(0);
  }, 1_800_000);

  afterAll(async () => {
    await L?.destroy();
  }, 180_000);

  const good = ['node05', 'node06', 'node07'];

  it('provision --all: the Debian nodes boot their own disks and call back; each bad image fails only its node (exit 3)', async () => {
    const t0 = Date.now();
    // a guard against a hang, not a speed bound: on a loaded 2-core machine the three nodes wrote for 18 min and the run took 30 min
    const r = await L.kseed(['--json', 'provision', '--all', '--wait', '--wait-booted', '--timeout', '3000'], 3_200_000);
    provision = r.json;
    console.log(`provision --all (3 Debian qcow2 nodes + 4 bad images): ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(3);
    const by = Object.fromEntries(provision.nodes.map((n: any) => [n.node, n]));
    for (const n of good) expect(by[n], JSON.stringify(by[n])).toMatchObject({ ok: true, state: 'active', status: { booted_hostname: n } });
    // per-phase times of each Debian node (the closing note's qcow2 deploy figures)
    for (const n of good) console.log(`${n}: ${(by[n].status?.timings ?? []).map((t: any) => `${t.phase} ${(t.ms / 1000).toFixed(1)}s`).join(', ')}`);
    const st = openState(L.stateDir);
    try {
      for (const [node, b] of Object.entries(bad)) {
        const rec = st.getNode(node)!;
        expect(rec.state, node).toBe('deploy failed');
        expect(rec.last_error, node).toContain(`image ${SEED}/${b.file}: `);
        expect(rec.last_error, node).toMatch(b.cause);
        // the seed refused before the ramdisk touched the disk: no data cluster was ever written
        const disk = L.lab.nodes.find((n) => n.name === node)!.disk.path;
        const map = JSON.parse(execFileSync('qemu-img', ['map', '--output=json', '-U', disk], { encoding: 'utf8' })) as { data: boolean }[];
        expect(map.filter((m) => m.data), node).toEqual([]);
      }
      // what the deploy ramdisk said while writing the 2 GiB image: the image streamed, RAM stayed free
      for (const n of good) {
        const res = st.listEvents(n, { kind: 'agent-result' }).filter((e) => e.detail.stage === 'deploy' && e.detail.status === 'ok').at(-1)!;
        expect(String(res.detail.msg)).toMatch(/^sha256:[0-9a-f]{64} written to \/dev\/vda in \d+s, MemAvailable min \d+ of \d+ MiB; NoCloud data on \/dev\/vda3$/);
        console.log(`${n}: ${res.detail.msg}`);
      }
    } finally {
      st.close();
    }
  }, 3_300_000);

  it.each(good)('%s over SSH: hostname, bond and VLAN addresses, root grown, cloud-init done without errors', (node) => {
    const a = L.lab.nodes.find((n) => n.name === node)!.addresses!;
    const r = L.ssh(node, 'hostname; echo ==; cat /sys/class/net/bond0/bonding/slaves; echo ==; ip -o addr show dev bond0; echo ==; ip -o addr show dev bond0.100; echo ==; df -B1 --output=size / | tail -n 1; echo ==; cloud-init status --long; echo rc=$?');
    expect(r.status, `${r.stderr}\n${r.stdout}`).toBe(0);
    const [host, slaves, bond, vlan, size, ci] = r.stdout.split('==\n');
    expect(host!.trim()).toBe(node);
    expect(slaves!.trim().split(/\s+/)).toHaveLength(2);
    expect(bond).toContain(`inet ${a.bond} `);
    expect(vlan).toContain(`inet ${a.vlan4} `);
    expect(vlan).toContain(`inet6 ${a.vlan6} `);
    // a 2 GiB image on a 4 GiB disk: growpart + resize2fs took the root to the end of the disk
    expect(Number(size!.trim())).toBeGreaterThan((DISK_GB - 0.5) * GiB);
    expect(ci).toMatch(/^status: done$/m);
    expect(ci).toMatch(/rc=0\s*$/);
    expect(ci).not.toMatch(/^errors:\s*\n\s+-/m);
  }, 300_000);

  it('ansible all -m ping through the inventory of kseed handoff --kolla', async () => {
    const h = await L.kseed(['--json', 'handoff', '--kolla']);
    expect(h.code, `${h.stderr}\n${h.stdout}`).toBe(0);
    const r = spawnSync('ip', ['netns', 'exec', L.lab.netns, 'ansible', 'all', '-i', h.json.kolla.inventory, '-m', 'ping', '--limit', good.join(',')], {
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, HOME: L.root, ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_PRIVATE_KEY_FILE: L.key },
    });
    expect(r.status, `${r.stderr}\n${r.stdout}`).toBe(0);
    for (const n of good) expect(r.stdout).toMatch(new RegExp(`^${n} \\| SUCCESS`, 'm'));
  }, 900_000);
});
