/**
 * Start-up: a run loads only the command it dispatches to (src/cli/commands.ts).
 * Checked on the built CLI with a module resolve hook that records every module
 * the process loads, so this is about what is loaded, not a timing; the time
 * is bench/startup's.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, KSEED_BIN, REPO, runKseed } from '../../helpers/cli.js';

let dir: string;

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(path.join(os.tmpdir(), 'ksu-startup-'));
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    "import { appendFileSync } from 'node:fs';\n" +
      'export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(process.env.KSEED_TRACE, r.url + "\\n"); return r; }\n',
  );
  writeFileSync(path.join(dir, 'register.mjs'), `import { register } from 'node:module'; register(${JSON.stringify(`file://${dir}/hooks.mjs`)});\n`);
  copyFileSync(path.join(REPO, 'examples/lab.yaml'), path.join(dir, 'kseed.yaml'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The packages (node_modules) and kseed files (dist/) a run of `args` loads. */
function loaded(args: string[]): { packages: string[]; files: string[] } {
  const trace = path.join(dir, `trace-${args.join('_').replace(/[^\w.-]/g, '_')}`);
  writeFileSync(trace, '');
  execFileSync(process.execPath, ['--import', path.join(dir, 'register.mjs'), KSEED_BIN, ...args], {
    cwd: dir,
    env: { ...process.env, KSEED_TRACE: trace, KSEED_BMC_PASSWORD: 'password' },
    stdio: 'ignore',
  });
  const urls = [...new Set(readFileSync(trace, 'utf8').split('\n').filter(Boolean))];
  const packages = [...new Set(urls.map((u) => /node_modules\/((@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter((p): p is string => Boolean(p)))].sort();
  const files = urls.filter((u) => u.includes('/dist/')).map((u) => u.slice(u.indexOf('/dist/') + 6)).sort();
  return { packages, files };
}

describe('npm run bench', () => {
  it('lists every benchmark folder of bench/, and refuses an unknown name (exit 2)', async () => {
    const list = execFileSync(process.execPath, [path.join(REPO, 'bench/run.mjs')], { encoding: 'utf8' });
    const dirs = readdirSync(path.join(REPO, 'bench'), { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(path.join(REPO, 'bench', d.name, 'run.mjs')));
    expect(dirs.length).toBeGreaterThan(5);
    for (const d of dirs) expect(list).toMatch(new RegExp(`^  ${d.name} `, 'm'));
    expect(list).not.toContain('not in this list yet');
    const bad = spawnSync(process.execPath, [path.join(REPO, 'bench/run.mjs'), 'nope'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('unknown benchmark: nope\n');
  });
});

describe('start-up', () => {
  it('top-level --help loads no command file and no package but commander', () => {
    const r = loaded(['--help']);
    expect(r.packages).toEqual(['commander']);
    expect(r.files).toEqual(['cli/commands.js', 'cli/main.js', 'errors.js']);
  });

  it('validate loads the site and profile code, and no engine, BMC, compose or boot code', () => {
    const r = loaded(['validate']);
    // yaml and zod come as the one-file bundles `npm run build` makes (scripts/bundle-vendor.mjs),
    // not as their ~130 files under node_modules
    expect(r.packages).toEqual(['commander']);
    expect(r.files.filter((f) => f.startsWith('util/vendor/'))).toEqual(['util/vendor/yaml.js', 'util/vendor/zod.js']);
    expect(r.files).toContain('cli/validate.js');
    expect(r.files.filter((f) => /^(engine|bmc|boot|compose|ironic|lab|images|render|handoff)\//.test(f))).toEqual([]);
    expect(r.files.filter((f) => f.startsWith('cli/'))).toEqual(['cli/commands.js', 'cli/context.js', 'cli/main.js', 'cli/output.js', 'cli/spinner.js', 'cli/validate.js']);
  });

  it('--help of the seed and node commands loads no engine, BMC, boot, compose or site code, and no package but commander', () => {
    for (const c of ['status', 'up', 'down', 'logs', 'render', 'enroll', 'doctor']) {
      const r = loaded([c, '--help']);
      expect(r.packages, c).toEqual(['commander']);
      // beside cli/ only errors.js and small modules that import nothing of kseed's: the verb state machine and atomic writes
      // (CI mode's options), the log tail (logs)
      const light = new Set(['errors.js', 'engine/lifecycle.js', 'handoff/files.js', 'util/tail.js']);
      expect(r.files.filter((f) => !f.startsWith('cli/') && !light.has(f)), c).toEqual([]);
      expect(r.files, c).toContain(`cli/${c}.js`);
    }
  });

  it("validate checks the site's own hardware profiles, and loads the profile code only when it has some", () => {
    expect(loaded(['validate']).files.filter((f) => f.startsWith('profiles/'))).toEqual([]);
    const own = path.join(dir, 'own');
    mkdirSync(path.join(own, 'hardware-profiles'), { recursive: true });
    copyFileSync(path.join(REPO, 'examples/lab.yaml'), path.join(own, 'kseed.yaml'));
    copyFileSync(path.join(REPO, 'hardware-profiles/qemu-lab.yaml'), path.join(own, 'hardware-profiles/qemu-lab.yaml'));
    expect(loaded(['--config', path.join(own, 'kseed.yaml'), 'validate']).files).toContain('profiles/load.js');
  });

  it('top-level help lists every command of the table, and each loads as the command it is listed as', async () => {
    const { commands } = await import('../../../src/cli/commands.js');
    const { buildProgram } = await import('../../../src/cli/main.js');
    const full = await buildProgram(['node', 'kseed'], true);
    const term = (c: { name(): string }) => full.createHelp().subcommandTerm(full.commands.find((x) => x.name() === c.name())!);
    const help = await runKseed(['--help'], { cwd: dir });
    expect(help.code).toBe(0);
    // all at once on 2 cores: under a busy machine's load one --help can wait past runKseed's 30 s default (not a speed check: that is bench/startup's)
    const each = await Promise.all(commands.map((c) => runKseed([c.name, '--help'], { cwd: dir, timeoutMs: 120_000 })));
    commands.forEach((c, i) => {
      // the term the loaded command has (`logs [options] [service]`), then the summary
      const t = term({ name: () => c.name });
      expect(help.stdout).toMatch(new RegExp(`^  ${t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +${c.summary.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
      const one = each[i]!;
      expect(one.code, `${c.name} --help: ${one.stderr}`).toBe(0);
      expect(one.stdout).toMatch(new RegExp(`^Usage: kseed ${c.name} `, 'm'));
      // every command's help ends with examples a newcomer can copy
      expect(one.stdout, `${c.name} --help`).toMatch(new RegExp(`\\nExamples?:\\n  kseed ${c.name}\\b`));
    });
  }, 150_000);

  it('an unknown command is a usage error (exit 2) that suggests the nearest', async () => {
    const r = await runKseed(['valdate'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown command 'valdate'");
    expect(r.stderr).toContain('(Did you mean validate?)');
  });
});
