/**
 * Faults of a simulated fleet (issue 19 item 5), as bench/fleet --faults and
 * the fleet fault test inject them:
 *   - the node's own faults, which the simulator reads from `faults` in the
 *     node directory at each power-on: `no-dhcp` (its NIC never sends DHCP:
 *     PXE disabled or a dead port; the firmware moves on to the disk) and
 *     `die-mid-deploy` (the machine freezes once while writing its image:
 *     no result, no further request, until its BMC power-cycles it; the
 *     fault is spent then, so the next deploy goes through);
 *   - the site's faults, in the site file the seed reads: a wrong BMC
 *     password, and BMCs behind a lossy relay (relay.ts) in a namespace of
 *     its own (relay-netns.ts).
 * Which nodes get which fault is a pure, deterministic function of the node
 * list, so a run can be repeated and its failures checked node by node.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type SimFault = 'no-dhcp' | 'die-mid-deploy';

export interface FaultPlan {
  /** BMCs behind a relay that drops and delays (10%). */
  lossyBmc: string[];
  /** Site file password differs from the BMC's (5%). */
  wrongPassword: string[];
  /** Simulated client dies once mid-deploy (5%). */
  clientDies: string[];
  /** Never sends DHCP (2%). */
  noDhcp: string[];
}

/** The shares, at least one node each once the fleet has 10 nodes. */
export const FAULT_SHARES: Record<keyof FaultPlan, number> = { lossyBmc: 0.1, wrongPassword: 0.05, clientDies: 0.05, noDhcp: 0.02 };

/**
 * Disjoint sets of nodes, spread over the list (every k-th node, offset per
 * fault) so no fault clusters at one end of a BMC port range or subnet.
 */
export function planFaults(nodes: readonly string[]): FaultPlan {
  const taken = new Set<string>();
  const pick = (share: number, offset: number): string[] => {
    const want = nodes.length >= 10 ? Math.max(1, Math.round(nodes.length * share)) : 0;
    const step = Math.max(1, Math.floor(nodes.length / Math.max(1, want)));
    const out: string[] = [];
    for (let k = 0; k < want; k++) {
      // the shares add up to under a quarter of the fleet: a free neighbour is always near
      let i = (offset + k * step) % nodes.length;
      while (taken.has(nodes[i]!)) i = (i + 1) % nodes.length;
      taken.add(nodes[i]!);
      out.push(nodes[i]!);
    }
    return out;
  };
  return { lossyBmc: pick(FAULT_SHARES.lossyBmc, 0), wrongPassword: pick(FAULT_SHARES.wrongPassword, 1), clientDies: pick(FAULT_SHARES.clientDies, 2), noDhcp: pick(FAULT_SHARES.noDhcp, 3) };
}

function faultFile(nodeDir: string): string {
  return path.join(nodeDir, 'faults');
}

export function readNodeFaults(nodeDir: string): Set<SimFault> {
  try {
    return new Set(readFileSync(faultFile(nodeDir), 'utf8').split('\n').map((l) => l.trim()).filter((l): l is SimFault => l === 'no-dhcp' || l === 'die-mid-deploy'));
  } catch {
    return new Set();
  }
}

export function writeNodeFaults(nodeDir: string, faults: Iterable<SimFault>): void {
  writeFileSync(faultFile(nodeDir), [...faults].map((f) => `${f}\n`).join(''), { mode: 0o600 });
}

/** A one-shot fault happened: the next power-on runs without it. */
export function spendNodeFault(nodeDir: string, fault: SimFault): void {
  const left = readNodeFaults(nodeDir);
  left.delete(fault);
  writeNodeFaults(nodeDir, left);
}

/** Thrown where a simulated machine freezes: no result or request follows, only a power cycle ends it. */
export class SimClientDied extends Error {}

/**
 * What a site gives BMCs behind a lossy link: IPMI's default budget of 60 s
 * (bmc/budget.ts, Ironic's command_retry_timeout) and the most retransmits
 * the site schema allows, so a lost datagram costs a retry, not the node.
 */
export const LOSSY_BMC_BUDGET = { timeout_ms: 60_000, retries: 20 };

/**
 * The lab site file with the site's faults applied: each node's
 * `bmc: { address: A, port: P }` line gets the wrong password's file, or
 * the relay's address and port in place of the BMC's and a lossy link's budget.
 */
export function applySiteFaults(site: string, plan: FaultPlan, o: { wrongPasswordFile: string; relay: (node: string) => { address: string; port: number } }): string {
  const lines = site.split('\n');
  let node: string | undefined;
  return lines
    .map((l) => {
      const name = /^\s+- name: (\S+)$/.exec(l)?.[1];
      if (name) node = name;
      const bmc = /^(\s+bmc: \{ address: )(\S+)(, port: )(\d+)( \})$/.exec(l);
      if (!bmc || !node) return l;
      if (plan.wrongPassword.includes(node)) return `${bmc[1]}${bmc[2]}${bmc[3]}${bmc[4]}, password: { file: ${JSON.stringify(o.wrongPasswordFile)} }${bmc[5]}`;
      // the lab profile's budget is loopback's (5 s, 2 retries); a BMC across a lossy link needs a WAN's
      if (plan.lossyBmc.includes(node)) {
        const r = o.relay(node);
        return `${bmc[1]}${r.address}${bmc[3]}${r.port}, timeout_ms: ${LOSSY_BMC_BUDGET.timeout_ms}, retries: ${LOSSY_BMC_BUDGET.retries}${bmc[5]}`;
      }
      return l;
    })
    .join('\n');
}

