import { constants } from 'node:fs';
import { access, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { shownPath } from '../site/yaml.js';
import { contextOf } from './context.js';

const TEMPLATES = {
  lab: 'examples/lab.yaml',
  rack: 'examples/rack.yaml',
} as const;

async function exists(p: string): Promise<boolean> {
  try {
    await access(p, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

export function register(program: Command): void {
  program
    .command('init')
    .description('write a commented starter site file (--lab: the virtual lab, default; --rack: a realistic rack)')
    .option('--lab', 'the virtual lab: QEMU machines with ipmi_sim BMCs in a network namespace')
    .option('--rack', 'a realistic rack: 3 controllers, 5 computes, 3 storage nodes, mixed vendors')
    .option('--force', 'overwrite an existing site file')
    .action(async (opts: { lab?: boolean; rack?: boolean; force?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (opts.lab && opts.rack) throw new InputError('choose one of --lab and --rack');
      const kind = opts.rack ? 'rack' : 'lab';
      const target = ctx.configPath;
      const shown = shownPath(target);
      const dir = path.dirname(target);
      const st = await stat(dir).catch(() => undefined);
      if (!st?.isDirectory()) throw new InputError(`cannot write ${shown}: directory ${dir} does not exist`);
      // never ask: a prompt would hang CI; overwriting needs an explicit --force
      if ((await stat(target).catch(() => undefined))?.isDirectory()) throw new InputError(`${shown} is a directory; --config names the site file`);
      if ((await exists(target)) && !opts.force) {
        throw new InputError(`${shown} already exists; pass --force to overwrite it`, [], { code: 'exists' });
      }
      const text = await readFile(new URL(`../../${TEMPLATES[kind]}`, import.meta.url), 'utf8');
      // write beside the target and rename: a crash never leaves half a site file
      const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.tmp`);
      await writeFile(tmp, text, { mode: 0o644 });
      await rename(tmp, target);
      ctx.out.result({ written: target, template: kind }, () =>
        [
          `wrote ${shown} (${kind} template)`,
          kind === 'lab'
            ? // lab up never overwrites a site file it did not write, so the virtual rack gets a file of its own
              'next: export KSEED_BMC_PASSWORD=password; kseed validate; `kseed images testos` builds an OS image for defaults.image.\n' +
              'No BMCs at hand? `kseed --config lab.yaml lab up` makes a virtual rack on this machine with a site file of its own (scripts/try-it.sh runs the whole job)'
            : 'next: edit nodes, BMC addresses and MACs; export KSEED_BMC_PASSWORD=...; kseed validate',
        ].join('\n'),
      );
    });
}
