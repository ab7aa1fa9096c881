/**
 * Lease operations as the seed service and the CLI both run them, so `kseed
 * lease ...` prints the same document whether it went through the service's
 * API or opened the state store itself: the store's transaction is the one
 * place where nodes are handed out (engine/state-node-leases.ts).
 */
import { UNDEPLOYED_STATES, type NodeState } from '../engine/lifecycle.js';
import type { NodeLeaseRecord, StateStore } from '../engine/state.js';
import type { NodeReleaseOutcome } from '../engine/state-node-leases.js';
import { InputError, KseedError } from '../errors.js';
import type { Site } from '../site/types.js';
import { parseDuration } from './api-input.js';
import { nodeAddress } from '../engine/node-status.js';
import { ed25519KeyPair } from '../util/ssh-ed25519.js';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const DEFAULT_TTL = '1h';

export interface LeasedNode {
  name: string;
  /** Lifecycle state in the store; null for a node never enrolled. */
  state: string | null;
  ip: string | null;
  /** What the lease's release did to it (null until then): wiped, clean (nothing deployed), kept, failed (with `error`; still held). */
  released: NodeReleaseOutcome['result'] | null;
  error?: string;
  /** Its OS called back from its own disk since the lease began (acquire --provision waits for it). */
  booted: boolean;
}

/**
 * Wipes nodes a lease held (the engine's undeploy, as `kseed undeploy`),
 * as the lease's `owner` (whose lease the engine's guard lets through); one
 * outcome per node, never a throw for one node's failure.
 */
export type NodeWiper = (nodes: string[], owner: string) => Promise<{ node: string; ok: boolean; error?: string }[]>;

/** Provisions the nodes of a lease (the engine's enroll -> inspect -> deploy, waiting for the first boot), as its owner. */
export type NodeProvisioner = (nodes: string[], owner: string) => Promise<{ node: string; ok: boolean; error?: string }[]>;

/** What the desk needs beyond the store to wipe and provision nodes (the site's engine) and keep lease keys. */
export interface LeaseWork {
  wipe: NodeWiper;
  provision: NodeProvisioner;
  /** .kseed/secrets: the lease's private key goes here, 0600. */
  secretsDir: string;
}

/** Where the private SSH key of a lease acquired with --provision is kept. */
export const leaseKeyFile = (secretsDir: string, id: string) => path.join(secretsDir, `lease-${id}`);

export interface LeaseView {
  id: string;
  owner: string;
  nodes: LeasedNode[];
  created_at: string;
  expires_at: string;
  /** Set once the lease ended: released by its holder or expired. */
  ended_at: string | null;
  end_reason: 'released' | 'expired' | null;
  keep: boolean;
  created_by: string | null;
  /** Acquired with --provision: the private key that logs in to its nodes (a path on the seed, 0600; deleted at release), and its public line. */
  ssh_key: { file: string; public: string } | null;
}

export interface AcquireInput {
  owner: string;
  count?: number;
  nodes?: string[];
  /** Only nodes of this hardware profile (matched at enrollment, else the site's), instead of `nodes`. */
  profile?: string;
  /** Only nodes with this role in the site file, instead of `nodes`. */
  role?: string;
  /** A duration (`2h`); default DEFAULT_TTL. */
  ttl?: string;
  /** Deploy the nodes' image with a key made for this lease (only nodes with an image can be chosen). */
  provision?: boolean;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function leaseView(l: NodeLeaseRecord, store: StateStore, secretsDir?: string, macsOf: (node: string) => readonly string[] = () => []): LeaseView {
  return {
    id: l.id,
    owner: l.owner,
    nodes: l.nodes.map((name) => {
      const r = store.getNode(name);
      const o = l.outcomes[name];
      const booted = (r?.data.booted as { at?: number } | null | undefined)?.at;
      return { name, state: r?.state ?? null, ip: nodeAddress(store, r, macsOf(name)), released: o?.result ?? null, ...(o?.error ? { error: o.error } : {}), booted: booted !== undefined && booted >= l.created_at };
    }),
    created_at: iso(l.created_at)!,
    expires_at: iso(l.expires_at)!,
    ended_at: iso(l.ended_at),
    end_reason: l.end_reason,
    keep: l.keep,
    created_by: l.created_by,
    ssh_key: l.ssh_key && secretsDir && l.ended_at === null ? { file: leaseKeyFile(secretsDir, l.id), public: l.ssh_key } : null,
  };
}

/** A node that can be leased, with what --role and --profile select on. */
export interface LeaseCandidate {
  name: string;
  roles: readonly string[];
  /** The site file's profile; the one matched at enrollment (in the store) wins. */
  profile?: string | undefined;
  /** The site file's MACs: the page's boot trace matches the boot log's lines by them. */
  macs?: readonly string[];
  /** It has an image to deploy (its own or the defaults'): --provision chooses among these only. */
  image?: boolean;
}

export const candidatesOf = (site: Pick<Site, 'nodes'>): LeaseCandidate[] => site.nodes.map((n) => ({ name: n.name, roles: n.roles, profile: n.profile, macs: n.macs, image: Boolean(n.image) }));

/** The lease operations on one store, over the site's nodes (`candidates`, in site order). */
export class LeaseDesk {
  readonly names: readonly string[];

  /** Leases whose deploy runs here: their expiry waits for it (a wipe racing the deploy would find the nodes claimed). */
  private readonly deploying = new Set<string>();
  /** Releases under way, by lease: a second release (or the expiry) of one waits for it instead of wiping twice. */
  private readonly releasing = new Map<string, Promise<LeaseView>>();

  /** `work`: without it, a node with an OS on it cannot be released but with keep (its wipe fails, saying so), and nothing is provisioned. */
  constructor(
    readonly store: StateStore,
    readonly candidates: readonly LeaseCandidate[],
    readonly work?: LeaseWork,
  ) {
    this.names = candidates.map((c) => c.name);
  }

  private view(l: NodeLeaseRecord): LeaseView {
    return leaseView(l, this.store, this.work?.secretsDir, (n) => this.candidates.find((c) => c.name === n)?.macs ?? []);
  }

  /**
   * Leases nodes. With `provision`, only nodes with an image are chosen (one
   * named without is bad input, nothing leased), and the lease gets its own
   * ed25519 key pair: the public key goes into its nodes' user-data (the
   * boot services read it from the lease), the private key into
   * .kseed/secrets/lease-ID (0600). The deploy itself is provision().
   */
  acquire(i: AcquireInput, createdBy?: string): LeaseView {
    const ttlMs = parseDuration(i.ttl ?? DEFAULT_TTL, 'ttl');
    let candidates = this.selected(i);
    let key: ReturnType<typeof ed25519KeyPair> | undefined;
    if (i.provision) {
      if (!this.work) throw new KseedError('this seed service cannot provision: it was started without the site\'s engine', { code: 'no-engine' });
      const withImage = new Set(this.candidates.filter((c) => c.image).map((c) => c.name));
      const named = (i.nodes ?? []).filter((n) => this.names.includes(n) && !withImage.has(n));
      if (named.length) throw new InputError(`--provision: ${named.join(', ')} ${named.length > 1 ? 'have' : 'has'} no image to deploy (set defaults.image or the node's image in the site file)`, [], { code: 'no-image' });
      candidates = candidates.filter((n) => withImage.has(n));
      if (!i.nodes?.length && !candidates.length) throw new InputError('--provision: no node of the site has an image to deploy (set defaults.image or a node\'s image in the site file)', [], { code: 'no-image' });
      if (!i.nodes?.length && (i.count ?? 1) > candidates.length) throw new InputError(`--provision: count ${i.count ?? 1} is more than the ${candidates.length} node${candidates.length > 1 ? 's' : ''} with an image (${candidates.join(', ')})`, [], { code: 'bad-count' });
      key = ed25519KeyPair(`kseed-lease@${i.owner}`);
    }
    const l = this.store.nodeLeases.acquire(
      { owner: i.owner, ttlMs, ...(i.count !== undefined ? { count: i.count } : {}), ...(i.nodes ? { nodes: i.nodes } : {}), ...(createdBy ? { createdBy } : {}), ...(key ? { sshKey: key.publicLine } : {}) },
      candidates,
    );
    if (key) {
      mkdirSync(this.work!.secretsDir, { recursive: true, mode: 0o700 });
      writeFileSync(leaseKeyFile(this.work!.secretsDir, l.id), key.privatePem, { mode: 0o600 });
    }
    return this.view(l);
  }

  /**
   * Deploys a --provision lease's nodes (as its owner) and waits for their
   * first boot; one node's failure is that node's (its state says it). The
   * lease as it is then.
   */
  async provision(id: string): Promise<LeaseView> {
    const l = this.store.nodeLeases.get(id);
    if (!l) throw new KseedError(`no lease ${id}`, { code: 'lease-not-found' });
    if (l.ssh_key && l.ended_at === null && this.work) {
      this.deploying.add(id);
      try {
        await this.work.provision(l.nodes, l.owner);
      } finally {
        this.deploying.delete(id);
      }
    }
    return this.get(id)!;
  }

  /** The candidates --role and --profile leave (all without them); none left, or fewer than asked, is bad input naming what there is. */
  private selected(i: AcquireInput): readonly string[] {
    if (i.role === undefined && i.profile === undefined) return this.names;
    if (i.nodes?.length) throw new InputError('nodes named, and a role or profile: name the nodes, or let the role/profile choose among the free ones', [], { code: 'bad-input' });
    const profileOf = (c: LeaseCandidate) => this.store.getNode(c.name)?.profile ?? c.profile;
    const what = [i.role !== undefined ? `role ${i.role}` : '', i.profile !== undefined ? `profile ${i.profile}` : ''].filter(Boolean).join(' and ');
    const fit = this.candidates.filter((c) => (i.role === undefined || c.roles.includes(i.role)) && (i.profile === undefined || profileOf(c) === i.profile));
    if (!fit.length) {
      const roles = [...new Set(this.candidates.flatMap((c) => c.roles))].sort();
      const profiles = [...new Set(this.candidates.map(profileOf).filter((p): p is string => Boolean(p)))].sort();
      throw new InputError(`no node of the site has ${what}: roles ${roles.join(', ') || 'none'}; profiles ${profiles.join(', ') || 'none known yet (matched at enroll)'}`, [], { code: 'no-such-nodes' });
    }
    const count = i.count ?? 1;
    if (count > fit.length) throw new InputError(`count ${count} is more than the ${fit.length} node${fit.length > 1 ? 's' : ''} with ${what} (${fit.map((c) => c.name).join(', ')})`, [], { code: 'bad-count' });
    return fit.map((c) => c.name);
  }

  list(all = false): LeaseView[] {
    return this.store.nodeLeases.list({ all }).map((l) => this.view(l));
  }

  get(id: string): LeaseView | undefined {
    const l = this.store.nodeLeases.get(id);
    return l ? this.view(l) : undefined;
  }

  /** `by`: the API token asking (undefined on the store itself, whoever can open it administers the seed). */
  renew(id: string, ttl = DEFAULT_TTL, by?: string): LeaseView {
    this.mayChange(id, by, 'renew');
    return this.view(this.store.nodeLeases.renew(id, parseDuration(ttl, 'ttl')));
  }

  /**
   * Ends the lease: with `keep` the nodes keep their OS; else each node with
   * one is wiped (engine undeploy) and ends available. A node whose wipe
   * failed stays held by the ended lease with its error (releasing again
   * retries it); the others are free. Releasing a released lease returns it.
   */
  release(id: string, keep = false, by?: string): Promise<LeaseView> {
    this.mayChange(id, by, 'release');
    return this.end(id, 'released', keep);
  }

  private end(id: string, reason: 'released' | 'expired', keep: boolean): Promise<LeaseView> {
    const running = this.releasing.get(id);
    if (running) return running;
    const p = this.endNow(id, reason, keep).finally(() => this.releasing.delete(id));
    this.releasing.set(id, p);
    return p;
  }

  private async endNow(id: string, reason: 'released' | 'expired', keep: boolean): Promise<LeaseView> {
    const { lease, nodes } = this.store.nodeLeases.pending(id);
    if (lease.ended_at !== null && !nodes.length) return this.view(lease);
    const outcomes: Record<string, NodeReleaseOutcome> = {};
    // a node never deployed, or already wiped, has nothing of the holder's on it
    const bare = (n: string) => {
      const s = this.store.getNode(n)?.state;
      return s === undefined || UNDEPLOYED_STATES.has(s as NodeState);
    };
    const toWipe = keep ? [] : nodes.filter((n) => !bare(n));
    for (const n of nodes) if (!toWipe.includes(n)) outcomes[n] = { result: keep ? 'kept' : 'clean' };
    if (toWipe.length && !this.work) {
      for (const n of toWipe) outcomes[n] = { result: 'failed', error: `${n} has an OS on it and nothing here can wipe it: release it with --keep, or on the seed (\`kseed lease release ${id}\`)` };
    } else if (toWipe.length) {
      for (const o of await this.work!.wipe(toWipe, lease.owner)) outcomes[o.node] = o.ok ? { result: 'wiped' } : { result: 'failed', error: o.error ?? 'the wipe failed' };
    }
    const ended = this.store.nodeLeases.finish(id, reason, keep, outcomes);
    // the lease's key logs in to nothing once its nodes are gone: it goes with the last of them
    if (ended.ssh_key && this.work && !this.store.nodeLeases.pending(id).nodes.length) {
      rmSync(leaseKeyFile(this.work.secretsDir, id), { force: true });
    }
    return this.view(ended);
  }

  /**
   * Through the API only the token that acquired a lease renews or releases
   * it: one pipeline's token cannot end another's lease under it. A lease
   * made on the store itself belongs to the seed's administrator.
   */
  private mayChange(id: string, by: string | undefined, what: string): void {
    if (by === undefined) return;
    const l = this.store.nodeLeases.get(id);
    if (!l || l.created_by === by) return;
    const whose = l.created_by === null ? 'was acquired on the seed itself, not through the API' : `was acquired with token ${l.created_by}`;
    throw new KseedError(`lease ${id} (owner ${l.owner}) ${whose}: token ${by} may not ${what} it (\`kseed lease ${what} ${id}\` on the seed can)`, { code: 'lease-not-yours' });
  }

  /**
   * Runs the release of every lease past its expiry (the service's timer,
   * and the CLI on the store before it acquires). An expired lease is always
   * wiped: it was forgotten, and the next holder must not get its OS. One
   * whose deploy still runs here is released at the first tick after it.
   */
  async expire(): Promise<LeaseView[]> {
    const ended: LeaseView[] = [];
    for (const l of this.store.nodeLeases.due()) if (!this.deploying.has(l.id)) ended.push(await this.end(l.id, 'expired', false));
    return ended;
  }
}
