/**
 * `kseed enroll`: Ironic's "manage" step. Every selected node's BMC is
 * reached and authenticated at once (bounded), asked what it is (power,
 * device id, GUID, FRU, BMC MAC), matched to a hardware profile, and the
 * node recorded as `manageable` or `enroll failed` with the reason.
 */
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import type { BmcIdentity, PowerState } from '../bmc/types.js';
import { openState, type StateStore } from '../engine/state.js';
import { canApply } from '../engine/lifecycle.js';
import { loadSiteProfiles } from '../profiles/load.js';
import { matchProfile } from '../profiles/match.js';
import type { HardwareProfile } from '../profiles/schema.js';
import { loadSite } from '../site/load.js';
import type { NodeSpec } from '../site/types.js';
import { errorText, exitFor, onNodes, selectNodes } from './bmc.js';
import { contextOf } from './context.js';
import { table } from './output.js';

interface EnrollRow {
  node: string;
  result: 'manageable' | 'enroll failed' | 'skipped';
  profile?: string;
  power?: PowerState;
  ms?: number;
  error?: string;
  identity?: BmcIdentity;
}

function describeIdentity(id: BmcIdentity): string {
  const parts: string[] = [];
  if (id.manufacturerId !== undefined) parts.push(`IPMI manufacturer ${id.manufacturerId}`);
  if (id.productId !== undefined) parts.push(`product 0x${id.productId.toString(16).padStart(4, '0')}`);
  if (id.manufacturer) parts.push(`"${id.manufacturer}"`);
  if (id.model) parts.push(`"${id.model}"`);
  return parts.join(', ') || 'nothing identifying';
}

/** A pinned profile wins (the site says what the node is); otherwise the best match. */
function pickProfile(node: NodeSpec, id: BmcIdentity, profiles: readonly HardwareProfile[]): { profile?: string; error?: string } {
  if (node.profile) {
    const p = profiles.find((x) => x.name === node.profile);
    return p ? { profile: p.name } : { error: `hardware profile "${node.profile}" does not exist` };
  }
  const m = matchProfile(id, profiles);
  if (m) return { profile: m.profile.name };
  return { error: `no hardware profile matches ${describeIdentity(id)}; add one or set the node's profile` };
}

function record(state: StateStore, node: NodeSpec, row: EnrollRow): void {
  const ok = row.result === 'manageable';
  state.updateNode(node.name, {
    power: row.power ?? 'unknown',
    ...(row.profile ? { profile: row.profile } : {}),
    ...(row.identity ? { data: { bmc: row.identity } } : {}),
  });
  state.transition(node.name, ok ? 'manageable' : 'enroll failed', {
    phase: 'enroll',
    from: 'enroll',
    ...(ok ? {} : { error: row.error }),
    detail: { ms: row.ms, ...(row.profile ? { profile: row.profile } : {}) },
  });
}

export function register(program: Command): void {
  program
    .command('enroll')
    .description('check every node BMC (authenticate, power, identity, profile) and record it manageable or enroll failed')
    .argument('[nodes...]', 'node names (default: none; use --all)')
    .option('--all', 'every node of the site file')
    .option(
      '--concurrency <n>',
      'BMCs checked at once',
      (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1 || n > 1024) throw new InputError('--concurrency must be an integer from 1 to 1024');
        return n;
      },
      64,
    )
    .action(async (names: string[], opts: { all?: boolean; concurrency: number }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const site = await loadSite(ctx.configPath);
      const nodes = selectNodes(site, names, opts.all);
      const profiles = await loadSiteProfiles(site.dir);
      const state = openState(ctx.stateDir);
      try {
        const rows = new Map<string, EnrollRow>();
        const todo: NodeSpec[] = [];
        for (const n of nodes) {
          const cur = state.ensureNode(n.name, { ...(n.ip ? { ip: n.ip } : {}), phase: 'enroll' });
          if (!canApply('enroll', cur.state)) {
            rows.set(n.name, { node: n.name, result: 'skipped', error: `node is ${cur.state}; enroll applies to enroll, enroll failed, manageable` });
            continue;
          }
          if (cur.state !== 'enroll') state.transition(n.name, 'enroll', { phase: 'enroll', reason: 're-enroll' });
          todo.push(n);
        }
        ctx.out.progress(`enrolling ${todo.length} node${todo.length === 1 ? '' : 's'}...`);
        const res = await onNodes(
          site,
          todo,
          async (b) => {
            const power = await b.powerStatus();
            const identity = await b.identity();
            return { power, identity };
          },
          { profiles, concurrency: opts.concurrency },
        );
        res.forEach((r, i) => {
          const n = todo[i]!;
          let row: EnrollRow;
          if (r.ok) {
            const pick = pickProfile(n, r.value!.identity, profiles);
            row = {
              node: n.name,
              result: pick.error ? 'enroll failed' : 'manageable',
              power: r.value!.power,
              identity: r.value!.identity,
              ms: r.ms,
              ...pick,
            };
          } else {
            row = { node: n.name, result: 'enroll failed', ms: r.ms, error: errorText(r.error) };
          }
          record(state, n, row);
          rows.set(n.name, row);
        });
        const ordered = nodes.map((n) => rows.get(n.name)!);
        ctx.out.result({ nodes: ordered }, () =>
          table(
            ['NODE', 'RESULT', 'PROFILE', 'POWER', 'TIME', 'REASON'],
            ordered.map((r) => [r.node, r.result, r.profile, r.power, r.ms === undefined ? undefined : `${r.ms} ms`, r.error]),
          ),
        );
        const failed = ordered.filter((r) => r.result === 'enroll failed').length;
        process.exitCode = exitFor(ordered.length - failed, failed);
      } finally {
        state.close();
      }
    });
}
