/**
 * The provisioning verbs of the API (routes in api.ts): power, provision,
 * undeploy and rebuild, run by service/verbs.ts as the CLI runs them on the
 * store. The caller's token is the lease identity: a node held by a lease
 * that token did not acquire (nor is owned by its name) is refused with 409
 * naming the holder and the expiry, before anything is done. The seed's own
 * CLI (token cli@seed) may name the `owner` it acts for, its KSEED_OWNER,
 * as it could on the store; another token naming someone else is refused.
 * Power answers at once; the others answer 202 with a job (jobs.ts).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import path from 'node:path';
import { unsetBmcEnv } from '../engine/bmc-target.js';
import { ownerName } from '../engine/runner.js';
import { selectNodes } from '../engine/site-nodes.js';
import type { StateStore } from '../engine/state.js';
import type { LeaseActor } from '../engine/state-node-leases.js';
import type { ProgressEvent } from '../engine/types.js';
import { KseedError } from '../errors.js';
import { loadSite } from '../site/load.js';
import type { NodeSpec, Site } from '../site/types.js';
import { ApiError, type Fields, parseBody } from './api-input.js';
import { type BootdevDoc, type InfoDoc, prepareBootdev, prepareInfo, runBootdev, runInfo } from './bmc-verbs.js';
import { CLI_TOKEN_NAME } from './cli-token.js';
import { type DiscoverRequest, discoverAddresses, runDiscover } from './discover-verb.js';
import { MAX_ENROLL_CONCURRENCY, prepareEnroll } from './enroll-verb.js';
import type { Jobs, JobSink, JobView } from './jobs.js';
import type { LeaseDesk } from './leases.js';
import { type EngineVerb, POWER_ACTIONS, type PowerRow, type PowerVerb, preparePower, prepareEngineVerb, refuseLeased, runPower } from './verbs.js';

/** What the service needs to run verbs: the site (its BMCs, its engine) and the seed's state directory. */
export interface VerbService {
  /** The site file, read again for each request: an edit (a BMC password fixed, a node added) counts at once, as it does for the CLI. */
  siteFile: string;
  stateDir: string;
  store: StateStore;
  jobs: Jobs;
}

const OWNER = { owner: { type: 'string' } } as const;
export const POWER_ONE: Fields = { state: { type: 'string', required: true }, ...OWNER };
export const POWER_MANY: Fields = { nodes: { type: 'string[]' }, all: { type: 'boolean' }, state: { type: 'string', required: true }, ...OWNER };
const ENGINE: Fields = { concurrency: { type: 'number' }, max_deploying: { type: 'number' }, max_bmc: { type: 'number' }, timeout: { type: 'number' }, ...OWNER };
export const VERB_FIELDS: Record<EngineVerb, Fields> = {
  provision: { nodes: { type: 'string[]' }, all: { type: 'boolean' }, inspect: { type: 'boolean' }, wait_booted: { type: 'boolean' }, ...ENGINE },
  undeploy: { nodes: { type: 'string[]', required: true }, ...ENGINE },
  rebuild: { nodes: { type: 'string[]', required: true }, wait_booted: { type: 'boolean' }, ...ENGINE },
};

async function need(v: VerbService | undefined): Promise<VerbService & { site: Site }> {
  if (!v) throw new ApiError(501, 'no-site', 'this seed service runs no verbs: it was started without the site file');
  return { ...v, site: await loadSite(v.siteFile) };
}

/**
 * Refuses (503, nothing done) a verb on nodes whose BMC secret is an
 * environment variable unset in this process: the service reads `{env: NAME}`
 * in the environment `kseed up` started it in, not the caller's, and would
 * otherwise fail each node with the bare resolver's words. Names the node,
 * the field and the variable, and both ways out.
 */
export function requireServiceEnv(nodes: readonly NodeSpec[]): void {
  const unset = unsetBmcEnv(nodes);
  if (!unset.length) return;
  const groups = new Map<string, string[]>();
  for (const u of unset) groups.set(`${u.field}\0${u.env}`, [...(groups.get(`${u.field}\0${u.env}`) ?? []), u.node]);
  const what = [...groups].map(([k, ns]) => {
    const [field, env] = k.split('\0') as [string, string];
    return `node${ns.length > 1 ? 's' : ''} ${ns.join(', ')}: ${field} is {env: ${env}}, and ${env} is not set in the seed service's environment`;
  });
  const vars = [...new Set(unset.map((u) => u.env))];
  const set = vars.map((v) => `${v}=...`).join(' ');
  throw new ApiError(
    503,
    'secret-missing',
    `${what.join('; ')} (pid ${process.pid}: it reads BMC secrets where \`kseed up\` ran, not where this command runs): set ${vars.join(', ')} there and restart the service (\`kseed down\`, then \`${set} kseed up\`), or run the seed without it (\`kseed down\`, then \`kseed up --no-api\`: commands then work on the state store, with their own environment); nothing was done`,
  );
}

/** Who the request acts for: its token, and the owner the seed's CLI names. */
export function actorOf(user: string, owner: unknown): LeaseActor {
  if (owner === undefined) return { token: user };
  if (user !== CLI_TOKEN_NAME && owner !== user) throw new ApiError(403, 'owner-not-yours', `token ${user} acts as ${user}: only the seed's own CLI names another owner ("owner": "${String(owner)}")`);
  return { token: user, owner: owner as string };
}

/** The refusals of verbs.ts as HTTP statuses; anything else is api.ts's to map. */
function refusal(err: unknown): unknown {
  if (!(err instanceof KseedError) || err instanceof ApiError) return err;
  if (err.code === 'node-leased' || err.code === 'not-up') return new ApiError(409, err.code, err.message);
  if (err.code === 'no-stack' || err.code === 'ironic-down') return new ApiError(503, err.code, err.detail ? `${err.message}: ${err.detail}` : err.message);
  return err;
}

const numbers = (b: Record<string, unknown>) => ({
  ...(b.concurrency !== undefined ? { concurrency: b.concurrency as number } : {}),
  ...(b.max_deploying !== undefined ? { maxDeploying: b.max_deploying as number } : {}),
  ...(b.max_bmc !== undefined ? { maxBmc: b.max_bmc as number } : {}),
  ...(b.timeout !== undefined ? { timeout: b.timeout as number } : {}),
});

function checkNumbers(b: Record<string, unknown>): void {
  for (const k of ['concurrency', 'max_deploying', 'max_bmc', 'timeout']) {
    if (b[k] !== undefined && !((b[k] as number) > 0)) throw new ApiError(400, 'bad-field', `field "${k}" must be a positive number`);
  }
}

/** POST /nodes/:name/power and POST /power: the rows `bmc power` prints. */
export async function power(v: VerbService | undefined, user: string, raw: Buffer, node?: string): Promise<[number, { nodes: PowerRow[] }]> {
  if (!v) await need(v);
  const b = parseBody(raw, node === undefined ? POWER_MANY : POWER_ONE);
  const actor = actorOf(user, b.owner);
  const state = b.state as string;
  if (!POWER_ACTIONS.includes(state as PowerVerb)) throw new ApiError(400, 'bad-field', `field "state" must be one of ${POWER_ACTIONS.join(', ')}, not "${state}"`);
  const s = await need(v);
  let nodes;
  try {
    nodes = preparePower(s.site, { nodes: node !== undefined ? [node] : ((b.nodes as string[] | undefined) ?? []), all: Boolean(b.all), action: state as PowerVerb }, (names) => refuseLeased(s.store, names, actor));
  } catch (err) {
    throw refusal(err);
  }
  requireServiceEnv(nodes);
  return [200, { nodes: await runPower(s.site, nodes, state as PowerVerb) }];
}

export const BOOTDEV: Fields = { device: { type: 'string', required: true }, uefi: { type: 'boolean' }, persistent: { type: 'boolean' }, ...OWNER };

/** POST /nodes/:name/bootdev: the document `bmc bootdev` prints; a BMC's failure is a 502 with its error. */
export async function bootdev(v: VerbService | undefined, user: string, raw: Buffer, node: string): Promise<[number, BootdevDoc]> {
  if (!v) await need(v);
  const b = parseBody(raw, BOOTDEV);
  const actor = actorOf(user, b.owner);
  const s = await need(v);
  const req = { node, device: b.device as string, uefi: Boolean(b.uefi), persistent: Boolean(b.persistent) };
  let spec;
  try {
    spec = prepareBootdev(s.site, req, (names) => refuseLeased(s.store, names, actor));
  } catch (err) {
    throw refusal(err);
  }
  requireServiceEnv([spec]);
  return [200, await runBootdev(s.site, spec, req)];
}

/** GET /nodes/:name/bmc: the document `bmc info` prints. */
export async function info(v: VerbService | undefined, node: string): Promise<[number, InfoDoc]> {
  const s = await need(v);
  const spec = prepareInfo(s.site, node);
  requireServiceEnv([spec]);
  return [200, await runInfo(s.site, spec)];
}

export const ENROLL: Fields = { nodes: { type: 'string[]' }, all: { type: 'boolean' }, concurrency: { type: 'integer' }, ...OWNER };

/** POST /enroll: checked (4xx, nothing done) and started as a job (202), as provision is. */
export async function enroll(v: VerbService | undefined, user: string, raw: Buffer): Promise<[number, JobView]> {
  if (!v) await need(v);
  const b = parseBody(raw, ENROLL);
  const actor = actorOf(user, b.owner);
  const concurrency = (b.concurrency as number | undefined) ?? 64;
  if (concurrency < 1 || concurrency > MAX_ENROLL_CONCURRENCY) throw new ApiError(400, 'bad-field', `field "concurrency" must be an integer from 1 to ${MAX_ENROLL_CONCURRENCY}`);
  const s = await need(v);
  requireServiceEnv(selectNodes(s.site, (b.nodes as string[] | undefined) ?? [], Boolean(b.all)));
  let sink: JobSink | undefined;
  const early: ProgressEvent[] = [];
  let p;
  try {
    p = await prepareEnroll(
      s.site,
      s.stateDir,
      { nodes: (b.nodes as string[] | undefined) ?? [], all: Boolean(b.all), concurrency },
      { actor, onProgress: (e) => (sink ? sink.node(e) : early.push(e)), claimOwner: `${ownerName(hostname(), process.pid)}#enroll-${randomBytes(4).toString('hex')}` },
    );
  } catch (err) {
    throw refusal(err);
  }
  const prepared = p;
  return [
    202,
    s.jobs.start('enroll', user, prepared.nodes, (k) => {
      sink = k;
      for (const e of early.splice(0)) k.node(e);
      return prepared.run((line) => k.progress(line));
    }),
  ];
}

export const DISCOVER: Fields = {
  range: { type: 'string', required: true },
  redfish: { type: 'boolean' },
  port: { type: 'integer' },
  redfish_port: { type: 'integer' },
  redfish_scheme: { type: 'string' },
  concurrency: { type: 'integer' },
  rate: { type: 'integer' },
  timeout: { type: 'integer' },
};

/** POST /discover: the range checked (400), then a job (202) whose result is `discover --json`'s document; no login (its password stays with the CLI). */
export async function discoverVerb(v: VerbService | undefined, user: string, raw: Buffer): Promise<[number, JobView]> {
  if (!v) await need(v);
  const b = parseBody(raw, DISCOVER);
  const int = (k: string, min: number, max: number, dflt: number | undefined) => {
    const n = (b[k] as number | undefined) ?? dflt;
    if (n !== undefined && (n < min || n > max)) throw new ApiError(400, 'bad-field', `field "${k}" must be an integer from ${min} to ${max}`);
    return n;
  };
  const req: DiscoverRequest = {
    range: b.range as string,
    redfish: Boolean(b.redfish),
    port: int('port', 1, 65535, 623)!,
    redfishScheme: (b.redfish_scheme as string | undefined) ?? 'https',
    concurrency: int('concurrency', 1, 1024, 64)!,
    rate: int('rate', 1, 100000, 500)!,
    timeout: int('timeout', 50, 60000, 500)!,
  };
  const rp = int('redfish_port', 1, 65535, undefined);
  if (rp !== undefined) req.redfishPort = rp;
  discoverAddresses(req);
  const s = await need(v);
  return [202, s.jobs.start('discover', user, [], (k) => runDiscover(req, (line) => k.progress(line)))];
}

/** The site file as `kseed` run where the service runs would name it (the not-up message's command). */
const shown = (file: string) => {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? `./${rel}` : file;
};

/** POST /provision, /undeploy, /rebuild: checked (4xx, nothing done) and started as a job (202). */
export async function engineVerb(v: VerbService | undefined, verb: EngineVerb, user: string, raw: Buffer): Promise<[number, JobView]> {
  if (!v) await need(v);
  const b = parseBody(raw, VERB_FIELDS[verb]);
  const actor = actorOf(user, b.owner);
  checkNumbers(b);
  const s = await need(v);
  let job: JobView | undefined;
  let sink: Parameters<Parameters<Jobs['start']>[3]>[0] | undefined;
  const early: Parameters<NonNullable<typeof sink>['node']>[0][] = [];
  let prepared;
  try {
    prepared = await prepareEngineVerb(
      s.site,
      s.stateDir,
      {
        verb,
        nodes: (b.nodes as string[] | undefined) ?? [],
        all: Boolean(b.all),
        opts: { ...numbers(b), ...(b.wait_booted !== undefined ? { waitBooted: b.wait_booted as boolean } : {}), ...(b.inspect !== undefined ? { inspect: b.inspect as boolean } : {}) },
      },
      // the engine's events before the job's sink exists (none in practice: it starts at once) are kept for it
      // its own claim owner: two jobs of this one process never both hold a node (the store's claim is per owner)
      { actor, shown: shown(s.site.file), onProgress: (e) => (sink ? sink.node(e) : early.push(e)), claimOwner: `${ownerName(hostname(), process.pid)}#${verb}-${randomBytes(4).toString('hex')}` },
    );
  } catch (err) {
    throw refusal(err);
  }
  const p = prepared;
  try {
    requireServiceEnv(s.site.nodes.filter((n) => p.nodes.includes(n.name)));
  } catch (err) {
    await p.close();
    throw err;
  }
  job = s.jobs.start(verb, user, p.nodes, (k) => {
    sink = k;
    for (const e of early.splice(0)) k.node(e);
    return p.run((line) => k.progress(line));
  });
  return [202, job];
}

export const RELEASE: Fields = { keep: { type: 'boolean' }, job: { type: 'boolean' } };

/** How often a release job says where its nodes are. */
const RELEASE_PROGRESS_MS = 1000;

/**
 * POST /leases/:id/release: the lease as it ended (200), or with `job` a job
 * (202) for a release whose wipes take longer than a client should hold a
 * request open; its lines say where the nodes are while they are wiped.
 * Who may release it, and whether it exists, is answered first (403/404).
 */
export async function releaseLease(desk: LeaseDesk, jobs: Jobs, id: string, user: string, raw: Buffer): Promise<[number, unknown]> {
  const b = parseBody(raw, RELEASE);
  const keep = Boolean(b.keep);
  if (!b.job) return [200, await desk.release(id, keep, user)];
  const l = desk.get(id);
  if (!l) throw new ApiError(404, 'lease-not-found', `no lease ${id} (\`kseed lease list --all\` lists them)`);
  const done = desk.release(id, keep, user);
  // the job reports it: no unhandled rejection while the job has not taken it yet
  done.catch(() => undefined);
  const pending = l.nodes.filter((n) => n.released === null || n.released === 'failed').map((n) => n.name);
  return [
    202,
    jobs.start('release', user, pending, async (sink) => {
      let said = '';
      const say = () => {
        const now = desk.get(id);
        const line = now ? `lease ${id}: ${now.nodes.filter((n) => pending.includes(n.name)).map((n) => `${n.name} ${n.released ?? n.state ?? 'enroll'}`).join(', ')}` : '';
        if (line && line !== said) sink.progress((said = line));
      };
      const t = setInterval(say, RELEASE_PROGRESS_MS);
      try {
        return await done;
      } finally {
        clearInterval(t);
      }
    }),
  ];
}
