/**
 * `kseed completion bash|zsh|fish`, loaded by the real shells: the script
 * completes commands, subcommands and options from the command tree, after
 * global options too.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runKseed } from '../../helpers/cli.js';
import { needPeers } from '../../helpers/peers.js';

const ok = needPeers('bash', 'zsh', 'fish');
let dir: string;
const scripts: Record<string, string> = {};

function sh(shell: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(shell, args, { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${shell}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

/** What bash (or zsh's bashcompinit) offers for the words typed so far (the last one being completed). */
const BASH_T = 't() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kseed_complete; echo "${COMPREPLY[*]}"; }';

describe.skipIf(!ok)('kseed completion', () => {
  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), 'ksi-compl-'));
    for (const shell of ['bash', 'zsh', 'fish']) {
      const r = await runKseed(['completion', shell], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      scripts[shell] = path.join(dir, `kseed.${shell}`);
      writeFileSync(scripts[shell]!, r.stdout);
    }
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('bash: commands, subcommands, options, after --config FILE', async () => {
    const out = await sh('bash', ['-c', `source ${scripts.bash}; ${BASH_T}; t kseed la; t kseed lab ''; t kseed lab up --no; t kseed --config x.yaml st; t kseed bmc power --a; t kseed -c x.yaml images r`]);
    expect(out.split('\n')).toEqual(['lab', 'up down status console', '--nodes --no-uefi-http --no-static-network --no-image --no-site', 'status', '--all', 'ramdisk', '']);
  });

  it("zsh: the same script through zsh's bashcompinit", async () => {
    const out = await sh('zsh', ['-c', `autoload -U compinit && compinit -u; source ${scripts.zsh}; setopt ksharrays; ${BASH_T}; t kseed lab ''; t kseed images ''`]);
    expect(out.split('\n')).toEqual(['up down status console', 'ramdisk testos os fetch build ceph', '']);
  });

  it('fish: completions with their descriptions', async () => {
    const out = await sh('fish', ['-c', `source ${scripts.fish}; complete -C 'kseed la'; complete -C 'kseed lab '; complete -C 'kseed --config x.yaml bmc power --a'`]);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^lab\tvirtual bare metal on this machine/);
    expect(lines.slice(1, 5).map((l) => l.split('\t')[0]).sort()).toEqual(['console', 'down', 'status', 'up']);
    expect(lines[5]).toMatch(/^--all\tevery node of the site file$/);
  });

  it('an unknown shell is a usage error (exit 2)', async () => {
    const r = await runKseed(['completion', 'tcsh'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('kseed: unknown shell "tcsh": kseed completion bash, zsh or fish\n');
  });
});
