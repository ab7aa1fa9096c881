/**
 * `kseed lease acquire|list|renew|release`: nodes held by a person or a CI
 * pipeline. With KSEED_URL (and KSEED_TOKEN) set, through the seed service's
 * API; otherwise on the state store beside the site file. Both run the
 * same operations (service/leases.ts) and print the same document.
 */
import type { Command } from 'commander';
import { InputError, KseedError } from '../errors.js';
import type { JobView } from '../service/jobs.js';
import type { AcquireInput, LeaseView } from '../service/leases.js';
import { type CliContext, contextOf, noSiteFile } from './context.js';
import { exitFor } from './nodes.js';
import { table } from './output.js';

/** The operation through the API when KSEED_URL is set, else on the store (closed after). */
async function run<T>(
  ctx: CliContext,
  viaApi: (call: <R>(method: 'GET' | 'POST', route: string, body?: unknown) => Promise<R>) => Promise<T>,
  direct: (desk: import('../service/leases.js').LeaseDesk) => T | Promise<T>,
): Promise<T> {
  const { apiTargetFromEnv, callApi } = await import('../service/client.js');
  const target = apiTargetFromEnv();
  if (target) return viaApi((method, route, body) => callApi(target, method, route, body));
  const { existsSync } = await import('node:fs');
  if (!existsSync(ctx.configPath)) throw noSiteFile(ctx);
  const site = await (await import('../site/load.js')).loadSite(ctx.configPath);
  const { openState } = await import('../engine/state.js');
  const { candidatesOf, LeaseDesk } = await import('../service/leases.js');
  const { engineWork } = await import('../service/lease-engine.js');
  const { progressLine } = await import('./provision.js');
  const store = openState(ctx.stateDir);
  try {
    return await direct(new LeaseDesk(store, candidatesOf(site), engineWork(site, ctx.stateDir, (e) => ctx.out.node(e, progressLine(e)))));
  } finally {
    store.close();
  }
}

function rows(ls: LeaseView[]): string {
  if (!ls.length) return 'no leases';
  return table(
    ['LEASE', 'OWNER', 'NODES', 'EXPIRES', 'ENDED'],
    ls.map((l) => [l.id, l.owner, l.nodes.map((n) => (n.ip ? `${n.name} (${n.ip})` : n.name)).join(', '), l.expires_at, l.ended_at ? `${l.end_reason} ${l.ended_at}` : undefined]),
  );
}

/** `wiped: n1, n2; kept: n3`: what the release did, by outcome. */
function byResult(nodes: LeaseView['nodes']): string {
  const words = { wiped: 'wiped', clean: 'nothing to wipe', kept: 'kept their OS', failed: 'wipe failed' } as const;
  const groups = new Map<string, string[]>();
  for (const n of nodes) groups.set(words[n.released ?? 'clean'], [...(groups.get(words[n.released ?? 'clean']) ?? []), n.name]);
  return [...groups].map(([w, ns]) => `${w}: ${ns.join(', ')}`).join('; ');
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function seconds(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InputError(`--timeout must be a whole number of seconds, at least 1, not "${v}"`, [], { code: 'bad-timeout' });
  return Number(v);
}

/** The first wait between tries, and the longest: doubling in between, so 20 waiting pipelines ask a few times a minute, not 20 times a second. */
const FIRST_TRY_MS = 500;
const LONGEST_TRY_MS = 15_000;

/**
 * Acquire, and with `wait` try again while the nodes asked for are held
 * (`lease-unavailable`; bad input fails at once), backing off with jitter
 * (waiters started together do not ask together), saying on stderr what it
 * waits for whenever that changes, until `timeoutS`.
 */
async function acquire(ctx: CliContext, input: AcquireInput, o: { wait?: boolean; timeoutS?: number }): Promise<LeaseView> {
  const t0 = Date.now();
  let delay = FIRST_TRY_MS;
  let said = '';
  let saidAt = 0;
  for (;;) {
    try {
      // on the store itself nobody else runs the releases of expired leases: this acquire does, first
      return await run(ctx, (call) => call<LeaseView>('POST', '/leases', input), async (desk) => (await desk.expire(), desk.acquire(input)));
    } catch (err) {
      if (!o.wait || !(err instanceof KseedError) || err.code !== 'lease-unavailable') throw err;
      const why = `${err.message}${err.detail ? `; held: ${err.detail.replaceAll('\n', '; ')}` : ''}`;
      const left = o.timeoutS === undefined ? Infinity : t0 + o.timeoutS * 1000 - Date.now();
      if (left <= 0) throw new KseedError(`no lease after waiting ${o.timeoutS} s: ${why}`, { code: 'lease-timeout' });
      // a line when what it waits for changes, and one a minute while it does not
      if (why !== said || Date.now() - saidAt > 60_000) {
        ctx.out.progress(`waiting (${Math.round((Date.now() - t0) / 1000)} s): ${why}`);
        said = why;
        saidAt = Date.now();
      }
      await new Promise((r) => setTimeout(r, Math.min(left, delay * (0.75 + Math.random() / 2))));
      delay = Math.min(delay * 2, LONGEST_TRY_MS);
    }
  }
}

/** A node the engine gave up on, or one that booted: either way its provisioning is over. */
const settled = (n: LeaseView['nodes'][number]) => n.booted || Boolean(n.state?.endsWith('failed'));

/**
 * The deploy of a --provision lease: on the store, this process runs it;
 * through the API the service does, and this follows the lease until every
 * node booted or failed, saying what changed on stderr.
 */
async function provisioned(ctx: CliContext, l: LeaseView): Promise<LeaseView> {
  let said = '';
  return run(
    ctx,
    async (call) => {
      for (;;) {
        const now = await call<LeaseView>('GET', `/leases/${encodeURIComponent(l.id)}`);
        const line = now.nodes.map((n) => `${n.name} ${n.booted ? 'booted' : (n.state ?? 'enroll')}`).join(', ');
        if (line !== said) ctx.out.progress(`lease ${l.id}: ${(said = line)}`);
        if (now.ended_at !== null || now.nodes.every(settled)) return now;
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
    (desk) => desk.provision(l.id),
  );
}

function count(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InputError(`--count must be a whole number of at least 1, not "${v}"`, [], { code: 'bad-count' });
  return Number(v);
}

export function register(program: Command): void {
  const lease = program.command('lease').description('lease nodes to a person or a CI pipeline: acquire, list, renew, release (KSEED_URL: through the seed service)');

  lease
    .command('acquire')
    .description('lease free nodes (all or none); prints the lease with its nodes')
    .requiredOption('--owner <name>', 'who holds the lease (a person, a pipeline id)')
    .option('--count <n>', 'how many nodes (default 1)', count)
    .option('--node <name>', 'this node (repeat for more); instead of --count', collect)
    .option('--role <role>', 'only nodes with this role in the site file (control, compute, storage, ...)')
    .option('--profile <name>', 'only nodes of this hardware profile (matched at enroll, else the site file\'s)')
    .option('--ttl <duration>', 'how long: 90s, 30m, 2h, 1d (default 1h)')
    .option('--wait', 'while the nodes asked for are held, wait for them (tries again with back-off, says what it waits for on stderr)')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 1); default: wait until they are free', seconds)
    .option('--provision', 'deploy the nodes (only nodes with an image are chosen) with an SSH key made for this lease, and wait for their first boot; prints the key\'s path (0600) and the addresses; exit 3 if some failed')
    .option('--detach', 'with --provision, through the seed service (KSEED_URL): return once the lease is made, the service deploys on (follow `GET /leases/ID`, nodes[].booted)')
    .action(async (o: { owner: string; count?: number; node?: string[]; role?: string; profile?: string; ttl?: string; wait?: boolean; timeout?: number; provision?: boolean; detach?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (o.timeout !== undefined && !o.wait) throw new InputError('--timeout goes with --wait', [], { code: 'bad-option' });
      if (o.detach && !o.provision) throw new InputError('--detach goes with --provision', [], { code: 'bad-option' });
      // on the store itself this process is the one deploying: it cannot leave
      if (o.detach && !process.env.KSEED_URL?.trim()) throw new InputError('--detach needs the seed service (KSEED_URL and KSEED_TOKEN): on the store itself kseed deploys in this process', [], { code: 'bad-option' });
      const input: AcquireInput = { owner: o.owner, ...(o.count !== undefined ? { count: o.count } : {}), ...(o.node ? { nodes: o.node } : {}), ...(o.role ? { role: o.role } : {}), ...(o.profile ? { profile: o.profile } : {}), ...(o.ttl ? { ttl: o.ttl } : {}), ...(o.provision ? { provision: true } : {}) };
      let l = await acquire(ctx, input, { ...(o.wait ? { wait: true } : {}), ...(o.timeout !== undefined ? { timeoutS: o.timeout } : {}) });
      if (o.provision && !o.detach) l = await provisioned(ctx, l);
      ctx.out.result(l, () => `lease ${l.id} for ${l.owner} until ${l.expires_at}\n${rows([l])}${l.ssh_key ? `\nssh key: ${l.ssh_key.file}` : ''}`);
      if (o.provision && !o.detach) {
        const failed = l.nodes.filter((n) => !n.booted);
        for (const n of failed) process.stderr.write(`kseed: ${n.name}: not provisioned (${n.state ?? 'never enrolled'}): \`kseed status ${n.name}\` says why\n`);
        process.exitCode = exitFor(l.nodes.length - failed.length, failed.length);
      }
    });

  lease
    .command('list')
    .description('live leases (--all: ended ones too)')
    .option('--all', 'also the released and expired leases')
    .action(async (o: { all?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const leases = await run(ctx, async (call) => (await call<{ leases: LeaseView[] }>('GET', `/leases${o.all ? '?all=true' : ''}`)).leases, (desk) => desk.list(Boolean(o.all)));
      ctx.out.result({ leases }, () => rows(leases));
    });

  lease
    .command('renew <id>')
    .description('extend a live lease to TTL from now')
    .option('--ttl <duration>', 'new lifetime from now: 90s, 30m, 2h, 1d (default 1h)')
    .action(async (id: string, o: { ttl?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const l = await run(ctx, (call) => call<LeaseView>('POST', `/leases/${encodeURIComponent(id)}/renew`, o.ttl ? { ttl: o.ttl } : {}), (desk) => desk.renew(id, o.ttl));
      ctx.out.result(l, () => `lease ${l.id} renewed until ${l.expires_at}`);
    });

  lease
    .command('release <id>')
    .description('end a lease: wipe its nodes (the engine\'s undeploy) and free them; exit 3 if some wipe failed (those stay held: release again); releasing twice succeeds')
    .option('--keep', 'the nodes keep their OS: no wipe')
    .action(async (id: string, o: { keep?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      // through the service a job, followed for as long as the wipes take (each line says where the nodes are)
      const l = await run(
        ctx,
        async (call) => (await import('./verb-run.js')).followJob<LeaseView>(ctx, call, await call<JobView>('POST', `/leases/${encodeURIComponent(id)}/release`, { ...(o.keep ? { keep: true } : {}), job: true })),
        (desk) => desk.release(id, Boolean(o.keep)),
      );
      const failed = l.nodes.filter((n) => n.released === 'failed');
      for (const n of failed) process.stderr.write(`kseed: ${n.name}: wipe failed: ${n.error ?? 'no reason given'}\n`);
      const free = l.nodes.filter((n) => n.released !== 'failed');
      ctx.out.result(l, () =>
        [`lease ${l.id} ${l.end_reason} at ${l.ended_at}: ${free.map((n) => n.name).join(', ') || 'no node'} free${free.length ? ` (${byResult(free)})` : ''}`, ...failed.map((n) => `${n.name} still held: wipe failed (\`kseed lease release ${l.id}\` tries again)`)].join('\n'),
      );
      process.exitCode = exitFor(free.length, failed.length);
    });
}
