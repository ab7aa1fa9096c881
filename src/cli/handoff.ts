import path from 'node:path';
import type { Command } from 'commander';
import { openState } from '../engine/state.js';
import { InputError } from '../errors.js';
import { generateHandoff, type HandoffResult } from '../handoff/generate.js';
import { CEPH_RUN_KEY, CEPH_UNTIL, cephPlanOf, runCeph, type CephRunRecord, type CephRunReport, type CephUntil } from '../handoff/ceph-run.js';
import { ensureSshKey, registryPassword } from '../handoff/credentials.js';
import { cephStatus } from '../handoff/ceph-status.js';
import { CEPH_IMAGE_REPO } from '../handoff/ceph.js';
import { findCephadmDeb, upstreamVersion } from '../images/ceph/version.js';
import { kollaSteps, type Step } from '../handoff/steps.js';
import { ociRefs, readImageList, sourceOf, syncImages } from '../handoff/mirror.js';
import { ExitCode, KseedError } from '../errors.js';
import { commandLine, missingTools, runSteps } from '../handoff/run.js';
import { loadSiteProfiles } from '../profiles/load.js';
import { loadSite } from '../site/load.js';
import { contextOf } from './context.js';
import { inNetns, reexecIn } from './netns.js';
import { ensureSeedRegistry, stopSeedRegistry } from '../engine/seed-registry.js';
import { servedArtifactsDir } from '../engine/service.js';
import { table } from './output.js';

interface Opts {
  kolla?: boolean;
  ceph?: boolean;
  out?: string;
  run?: boolean;
  from?: string;
  status?: boolean;
  until?: string;
}

function human(r: HandoffResult): string {
  const lines = [`hand-off written to ${r.out}`];
  for (const f of r.files) lines.push(`  ${path.relative(r.out, f.path)}  (${f.mode}${f.secret ? ', secret' : ''})`);
  lines.push(
    '',
    table(
      ['node', 'roles', 'address', 'from', 'state', 'inspected', 'lifecycle'],
      r.nodes.map((n) => [n.name, n.roles.join(','), n.address ?? '-', n.address_source, n.state ?? '-', n.inspected ? 'yes' : 'no', n.reason ? `${n.lifecycle} (${n.reason})` : n.lifecycle]),
    ),
  );
  if (r.assumptions.length) {
    lines.push('', 'ASSUMED (check these before running the installers):');
    for (const a of r.assumptions) lines.push(`  ${a.node ? `${a.node}: ` : ''}${a.setting} = ${a.value}  (${a.reason})`);
  }
  if (r.warnings.length) {
    lines.push('', 'warnings:');
    for (const w of r.warnings) lines.push(`  ${w}`);
  }
  if (r.ceph?.bootstrap_command) lines.push('', `cephadm bootstrap (on ${r.ceph.bootstrap_host}): ${r.ceph.bootstrap_command}`, `  all steps: ${r.ceph.script}`);
  return lines.join('\n');
}

function cephHuman(c: CephRunReport): string {
  const lines = [table(['step', 'host', 'status', 'seconds', 'detail'], c.steps.map((s) => [s.name, s.host ?? '-', s.status, s.status === 'done before' ? '-' : s.seconds.toFixed(1), s.detail ?? '']))];
  lines.push(`OSDs up and in: ${c.osds_up}/${c.osds_expected}`);
  for (const f of c.failed_hosts) lines.push(`host ${f.host} failed at ${f.step}: ${f.reason}`);
  if (c.ok && c.until) lines.push(`stopped after ${c.until} as asked: mons ${c.cluster?.mons.count ?? '?'} (quorum ${c.cluster?.mons.quorum.join(', ') || 'none'}), mgr ${c.cluster?.mgrs.active ?? (c.cluster?.mgrs.available ? 'available' : 'not available')}; \`kseed handoff --ceph --run\` goes on from there`);
  else lines.push(c.ok ? 'Ceph is up (kseed handoff --ceph --status shows it)' : 'Ceph hand-off incomplete: fix the above and run `kseed handoff --ceph --run` again; it resumes where it stopped');
  return lines.join('\n');
}

export function register(program: Command): void {
  registerMirror(program);
  program
    .command('handoff')
    .description('write Kolla-Ansible and cephadm inputs for the provisioned nodes; --run runs the installers')
    .option('--kolla', 'Kolla-Ansible files only (default: both)')
    .option('--ceph', 'cephadm files only (default: both, Ceph when the site has handoff.ceph)')
    .option('--out <dir>', 'write here instead of .kseed/handoff/')
    .option('--run', 'then run kolla-ansible (bootstrap-servers, prechecks, deploy) and cephadm; resumes at the step that failed')
    .option('--from <step>', 'with --run: start at this step even if it succeeded before')
    .option('--status', "with --ceph: the cluster's health, mons, mgrs and OSDs up/in per host (asked on the first monitor)")
    .option('--until <step>', `with --ceph --run: stop after this Ceph step (${CEPH_UNTIL.join(', ')}); running again without it goes on`)
    .action(async (opts: Opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (opts.from && !opts.run) throw new InputError('--from needs --run');
      if (opts.until !== undefined) {
        if (!opts.run || !opts.ceph || opts.kolla) throw new InputError('--until goes with --ceph --run (kseed handoff --ceph --run --until bootstrap)');
        if (!(CEPH_UNTIL as readonly string[]).includes(opts.until)) {
          throw new InputError(`--until ${opts.until}: not a Ceph step to stop after`, [{ file: '<command line>', path: 'until', message: `one of ${CEPH_UNTIL.join(', ')}` }]);
        }
      }
      if (opts.status && (opts.run || !opts.ceph)) throw new InputError('--status goes with --ceph alone (kseed handoff --ceph --status)');
      const site = await loadSite(ctx.configPath);
      // the nodes and the seed registry are reached from where the seed address is
      if ((opts.run || opts.status) && site.seed.netns && !inNetns(site.seed.netns)) {
        process.exitCode = await reexecIn(site.seed.netns);
        return;
      }
      const profiles = await loadSiteProfiles(site.dir);
      // no flag: what the site plans (its handoff.kolla / handoff.ceph sections; Kolla when it names neither)
      const planned = { kolla: site.handoff.kolla !== undefined || site.handoff.ceph === undefined, ceph: site.handoff.ceph !== undefined };
      const both = !opts.kolla && !opts.ceph;
      const kolla = both ? planned.kolla : Boolean(opts.kolla);
      const ceph = both ? planned.ceph : Boolean(opts.ceph);
      const state = openState(ctx.stateDir);
      try {
        if (opts.status) {
          // what the run recorded: no files written, no node asked before a bootstrap
          const rec = state.get<CephRunRecord>(CEPH_RUN_KEY);
          if (rec?.steps.bootstrap?.status !== 'ok' || !rec.mon || !rec.image) {
            throw new KseedError('Ceph has not been bootstrapped by kseed on this site yet: run `kseed handoff --ceph --run`', { code: 'no-ceph' });
          }
          const key = await ensureSshKey(site, ctx.stateDir);
          const st = await cephStatus({ user: site.handoff.ssh_user, keyFile: key.file, knownHosts: rec.mon.known_hosts }, rec.mon.addr, rec.image);
          // `kseed status` shows the last answer
          state.update<CephRunRecord>(CEPH_RUN_KEY, (old) => ({ ...old!, cluster: { ...st, at: Date.now() } }));
          ctx.out.result({ bootstrap_host: rec.mon.name, ...st }, () =>
            [
              `health ${st.health}${st.checks.length ? ` (${st.checks.map((c) => `${c.code}: ${c.summary}`).join('; ')})` : ''}`,
              `mons ${st.mons.count} (quorum ${st.mons.quorum.join(', ') || 'none'}); mgr ${st.mgrs.available ? `${st.mgrs.active} active` : 'not available'}, ${st.mgrs.standbys} standby`,
              `OSDs ${st.osds.up} up, ${st.osds.in} in, of ${st.osds.total}`,
              table(['host', 'osds', 'up', 'in'], st.hosts.map((h) => [h.host, String(h.osds), String(h.up), String(h.in)])),
            ].join('\n'),
          );
          return;
        }
        const r = await generateHandoff(site, state, { kolla, ceph, outDir: opts.out && path.resolve(opts.out), stateDir: ctx.stateDir, artifactsDir: servedArtifactsDir(ctx.stateDir, site.file), profiles });
        if (!opts.run) {
          ctx.out.result(r, () => human(r));
          return;
        }
        ctx.out.progress(human(r));
        // Ceph first: Kolla's Glance, Cinder and Nova are configured against it
        let cephRun: CephRunReport | undefined;
        if (r.ceph) {
          cephRun = await runCeph(state, cephPlanOf(site, r, ctx.stateDir, await registryPassword(site, ctx.stateDir)), {
            onProgress: (l) => ctx.out.progress(`[ceph] ${l}`),
            ...(opts.until ? { until: opts.until as CephUntil } : {}),
            // a site that plans Kolla gets its external-Ceph files with --ceph alone too
            kollaConfigDir: r.kolla?.configdir ?? (planned.kolla ? path.join(r.out, 'kolla') : undefined),
          });
          const bootstrapped = cephRun.steps.some((s) => s.name === 'bootstrap' && (s.status === 'ok' || s.status === 'done before'));
          if (!cephRun.ok) {
            ctx.out.result({ ...r, ceph_run: cephRun }, () => cephHuman(cephRun!));
            // the cluster is up but some hosts are not in it: partial
            process.exitCode = bootstrapped && cephRun.failed_hosts.length && cephRun.steps.every((s) => s.status !== 'failed' || s.host) ? ExitCode.partial : ExitCode.failure;
            return;
          }
          // stopped early (--until): Kolla has no cluster to use yet
          if (!r.kolla || cephRun.until) {
            ctx.out.result({ ...r, ceph_run: cephRun }, () => cephHuman(cephRun!));
            return;
          }
        }
        const steps: Step[] = r.kolla ? kollaSteps(r.kolla.inventory, r.kolla.configdir) : [];
        const missing = await missingTools(steps);
        if (missing.length) {
          const commands = steps.map(commandLine);
          ctx.out.result({ ...r, ...(ceph ? { ceph_run: cephRun } : {}), run: { ok: false, missing, commands } }, () =>
            [
              ...(cephRun ? [cephHuman(cephRun), ''] : []),
              `cannot run the installers: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed on this machine.`,
              'Install Kolla-Ansible for the release (pip install kolla-ansible in a virtualenv, then `kolla-ansible install-deps`),',
              'or run these commands by hand, in order, from a machine that has it:',
              ...commands.map((c) => `  ${c}`),
            ].join('\n'),
          );
          process.exitCode = 1;
          return;
        }
        const outcome = await runSteps(state, steps, {
          logDir: path.join(ctx.stateDir, 'logs'),
          from: opts.from,
          cwd: r.out,
          onLine: (step, line) => ctx.out.progress(`[${step}] ${line}`),
        });
        ctx.out.result({ ...r, ...(cephRun ? { ceph_run: cephRun } : {}), run: { ok: !outcome.failed, ...outcome } }, () =>
          outcome.failed
            ? `step ${outcome.failed} failed (log: ${outcome.ran.at(-1)?.log}); fix it and run \`kseed handoff --run\` again to resume there`
            : outcome.ran.length
              ? `installers done (${outcome.ran.map((s) => s.name).join(', ')}; skipped as done before: ${outcome.skipped.join(', ') || 'none'})`
              : `nothing left to run: every step succeeded before (--from STEP runs again from STEP: ${steps.map((s) => s.name).join(', ')})`,
        );
        if (outcome.failed) process.exitCode = 1;
      } finally {
        state.close();
      }
    });
}


/** `kseed mirror sync`: the hand-off's images into the seed registry (lives here: the hand-off owns the image names). */
function registerMirror(program: Command): void {
  const mirror = program.command('mirror').description('the seed registry as an image mirror for the hand-off');
  mirror
    .command('up')
    .description("start the seed registry (engine embedded: a kseed/registry container on the seed address; engine ironic: the stack's own registry service runs it)")
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const site = await loadSite(ctx.configPath);
      const r = await ensureSeedRegistry(site, ctx.stateDir);
      ctx.out.result({ registry: r.address, container: r.container, started: r.started }, () => `seed registry ${r.started ? 'started' : 'already running'}: ${r.address} (${r.container})`);
    });
  mirror
    .command('down')
    .description('stop the seed registry of the embedded engine (the pushed images stay in its volume)')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const site = await loadSite(ctx.configPath);
      const r = await stopSeedRegistry(site);
      ctx.out.result(r, () => (r.stopped ? `seed registry stopped (${r.container})` : site.engine === 'embedded' ? 'seed registry was not running' : '`kseed down` stops the Ironic stack and its registry'));
    });
  mirror
    .command('sync')
    .description('copy images (a Kolla release, the Ceph image) into the seed registry: from upstream, an OCI layout directory, or a `docker save` bundle')
    .option('--list <file>', 'image references, one per line (default with --from DIR: every image the layout holds)')
    .option('--from <dir|bundle>', 'an OCI image layout directory, a docker-archive tar, or docker-daemon (the local Docker engine)')
    .option('--ceph', 'the Ceph image `kseed images ceph` built, at the version of the cephadm the seed serves (from the local Docker engine)')
    .option('--force', 'copy again images a previous sync finished')
    .action(async (opts: { list?: string; from?: string; force?: boolean; ceph?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (opts.ceph && (opts.list || opts.from)) throw new InputError('--ceph names its image and source itself: leave out --list and --from');
      const site = await loadSite(ctx.configPath);
      if (!site.registry.enabled) throw new InputError('the site has registry.enabled: false: there is no seed registry to load');
      // Distribution's proxy mode (proxy.remoteurl) refuses every push ("unsupported"): a
      // pull-through cache fills itself from upstream, and an air-gapped registry is loaded.
      if (site.registry.upstream) {
        throw new InputError(`${site.file}: registry.upstream is set (${site.registry.upstream}): the seed registry is a pull-through cache, which takes no pushes; nodes pull through it directly. For an air-gapped seed, remove registry.upstream and run \`kseed mirror sync\` again`, [], { code: 'registry-is-cache' });
      }
      if (site.seed.netns && !inNetns(site.seed.netns)) {
        process.exitCode = await reexecIn(site.seed.netns);
        return;
      }
      let source = await sourceOf(opts.from);
      let refs = opts.list ? await readImageList(opts.list) : source.kind === 'oci' ? await ociRefs(source.dir) : [];
      if (opts.ceph) {
        const deb = findCephadmDeb(servedArtifactsDir(ctx.stateDir, site.file));
        if (!deb) throw new KseedError('no Ceph image built yet (no cephadm .deb among the seed artifacts): run `kseed images ceph` first', { code: 'cephadm-missing' });
        source = { kind: 'daemon' };
        refs = [`${CEPH_IMAGE_REPO}:${upstreamVersion(deb.version)}`];
      }
      if (!refs.length) throw new InputError(opts.list ? `${opts.list} lists no image` : 'give --list FILE (or --from an OCI layout directory, whose images are taken)');
      // the embedded engine's registry starts here (and makes its password); the Ironic stack's runs since `kseed up`
      const { address: registry } = await ensureSeedRegistry(site, ctx.stateDir);
      const password = await registryPassword(site, ctx.stateDir);
      if (password === undefined) throw new KseedError('the seed registry has no password yet: run `kseed up` first (or set registry.password)', { exitCode: 2, code: 'bad-input' });
      const state = openState(ctx.stateDir);
      try {
        const images = await syncImages(state, refs, {
          registry,
          username: site.registry.username,
          password,
          source,
          force: opts.force,
          insecure: true,
          onProgress: (ref, line) => ctx.out.progress(`[${ref}] ${line}`),
        });
        const failed = images.filter((i) => i.status === 'failed');
        ctx.out.result({ registry, images }, () => table(['image', 'seed name', 'status'], images.map((i) => [i.ref, i.dest, i.error ? `${i.status}: ${i.error}` : i.status])));
        // the result is already printed (one JSON document): signal failure by exit code only
        if (failed.length) {
          process.stderr.write(`kseed: ${failed.length} of ${images.length} images failed; run the same command again to retry them\n`);
          process.exitCode = failed.length === images.length ? ExitCode.failure : ExitCode.partial;
        }
      } finally {
        state.close();
      }
    });
}
