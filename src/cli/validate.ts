import type { Command } from 'commander';
import { formatProblem, InputError, type Problem } from '../errors.js';
import path from 'node:path';
import { profileDirs, profileFiles } from '../site/profile-dirs.js';
import { checkSite, sortProblems } from '../site/load.js';
import { auditSecret } from '../site/secrets.js';
import type { SecretRef, Site } from '../site/types.js';
import { problemAt, valueAt, type Path, type YamlFile } from '../site/yaml.js';
import { contextOf } from './context.js';

/** Where secret references can appear in the raw file. */
function secretPaths(data: unknown): Path[] {
  const out: Path[] = [['defaults', 'bmc', 'password'], ['defaults', 'bmc', 'kg'], ['registry', 'password']];
  const nodes = valueAt(data, ['nodes']);
  if (Array.isArray(nodes)) nodes.forEach((_, i) => out.push(['nodes', i, 'bmc', 'password'], ['nodes', i, 'bmc', 'kg']));
  return out.filter((p) => valueAt(data, p) !== undefined);
}

/** Missing variables/files and loose permissions, once per distinct reference. */
async function auditSecrets(site: Site, y: YamlFile): Promise<{ problems: Problem[]; warnings: Problem[] }> {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const seen = new Set<string>();
  for (const p of secretPaths(y.data)) {
    const ref = valueAt(y.data, p) as SecretRef;
    const key = JSON.stringify(ref);
    if (seen.has(key) || 'value' in ref) continue;
    seen.add(key);
    const { message: _m, ...where } = problemAt(y, p, '');
    const r = await auditSecret(ref, site, where);
    problems.push(...r.problems);
    warnings.push(...r.warnings);
  }
  return { problems, warnings };
}

/** Checksums that are placeholders (all zeros): a deploy would fail only after writing the whole image. */
function placeholderChecksums(y: YamlFile): Problem[] {
  const paths: Path[] = [['defaults', 'image', 'checksum']];
  const nodes = valueAt(y.data, ['nodes']);
  if (Array.isArray(nodes)) nodes.forEach((_, i) => paths.push(['nodes', i, 'image', 'checksum']));
  return paths
    .filter((p) => /^sha(256|512):0+$/i.test(String(valueAt(y.data, p) ?? '')))
    .map((p) => problemAt(y, p, 'checksum is all zeros, a placeholder: put the image\'s own (`sha256sum IMAGE`, or what `kseed images testos` prints)'));
}

export function register(program: Command): void {
  program
    .command('validate')
    .description('check the site file and the hardware profiles; print every problem and warning')
    .option('--strict', 'treat warnings as problems (exit 2)')
    .addHelpText('after', '\nExamples:\n  kseed validate\n  kseed --config rack.yaml validate --strict --json')
    .action(async (opts: { strict?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await checkSite(ctx.configPath);
      let problems = [...r.problems];
      let warnings = [...r.warnings];
      if (r.site && r.yaml) {
        const s = await auditSecrets(r.site, r.yaml);
        problems.push(...s.problems);
        warnings.push(...s.warnings);
      }
      if (r.yaml) {
        warnings.push(...placeholderChecksums(r.yaml));
        // the site's own profiles (hardware-profiles/ beside it). The shipped ones are
        // part of kseed and checked by its tests; parsing them on every run was
        // about a third of validate's start-up (issue 16), and their code loads only
        // when the site has a profile of its own
        const own = profileDirs(r.site?.dir ?? path.dirname(ctx.configPath)).slice(1);
        if (profileFiles(own).size) {
          const { checkProfiles } = await import('../profiles/load.js');
          problems.push(...(await checkProfiles(own)).problems);
        }
      }
      problems = sortProblems(problems);
      warnings = sortProblems(warnings);
      if (opts.strict) {
        problems = sortProblems([...problems, ...warnings]);
        warnings = [];
      }
      const ok = problems.length === 0;
      if (ctx.out.json) {
        ctx.out.result({ ok, file: r.shown, problems, warnings, ...(r.site && ok ? { site: r.site.site, engine: r.site.engine, nodes: r.site.nodes.length } : {}) });
        if (!ok) process.exitCode = 2;
        return;
      }
      for (const w of warnings) process.stderr.write(`warning: ${formatProblem(w)}\n`);
      if (!ok) {
        const n = problems.length;
        const s = n === 1 ? '' : 's';
        const onlySite = problems.every((p) => p.file === r.shown);
        const msg = onlySite ? `${r.shown} has ${n} problem${s}` : `${n} problem${s} in ${r.shown} and its hardware profiles`;
        throw new InputError(msg, problems, { code: 'invalid-site' });
      }
      const site = r.site!;
      const profiles = [...new Set(site.nodes.map((n) => n.profile ?? '(matched at enrollment)'))].sort();
      ctx.out.text(
        `${r.shown}: ok (site ${site.site}, engine ${site.engine}, ${site.nodes.length} node${site.nodes.length === 1 ? '' : 's'}, profiles: ${profiles.join(', ') || 'none'}${warnings.length ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''})`,
      );
    });
}
