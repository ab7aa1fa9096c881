/** The `kseed images build` and `fetch` subcommands; src/cli/images.ts only attaches them. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { contextOf } from './context.js';
import { table } from './output.js';
import { InputError } from '../errors.js';
import { loadSite } from '../site/load.js';
import { buildSeedImages, DEFAULT_SERVICES } from '../images/seed/build.js';
import { fetchSeedDebs } from '../images/seed/fetch.js';
import { parseServices } from '../images/seed/services.js';

interface Opts {
  base?: string;
  debootstrap?: boolean;
  offline?: string;
  only?: string;
  inspector?: boolean;
  force?: boolean;
  cache?: string;
}

const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;

export function registerSeedImages(images: Command): void {
  registerFetch(images);
  images
    .command('build')
    .description('build the seed images (kseed/ironic, dnsmasq, http, registry, ironic-inspector) from Debian packages; unchanged images are reused')
    .option('--base <image>', 'a local Debian bookworm image to build FROM (default: debootstrap one)')
    .option('--debootstrap', 'make the base with debootstrap + docker import (the default)')
    .option('--offline <dir>', 'install from pre-fetched .debs (<dir>/<image>/*.deb) with --network none')
    .option('--only <services>', 'comma-separated: ironic,dnsmasq,http,registry,inspector,mariadb')
    .option('--inspector', 'also build kseed/ironic-inspector', false)
    .option('--cache <dir>', 'cache directory (default: .kseed/cache beside the site file)')
    .option('--force', 'rebuild even when nothing changed', false)
    .action(async (o: Opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (o.base && o.debootstrap) {
        throw new InputError('--base and --debootstrap exclude each other');
      }
      const services = servicesOf(o, await siteWantsInspector(ctx.configPath, (m) => ctx.out.progress(m)));
      const r = await buildSeedImages({
        cacheDir: o.cache ? path.resolve(o.cache) : path.join(ctx.stateDir, 'cache'),
        services,
        baseImage: o.base,
        offline: o.offline ? path.resolve(o.offline) : undefined,
        force: o.force,
        onProgress: (m) => ctx.out.progress(m),
      });
      const summary = {
        base: { image: r.base.image, size: r.base.size, seconds: r.base.seconds, status: r.base.status },
        images: r.images.map((i) => ({ name: i.name, tag: i.tag, size: i.size, seconds: Number(i.seconds.toFixed(1)), status: i.status, hash: i.hash })),
        seconds: Number(r.seconds.toFixed(1)),
      };
      ctx.out.result(summary, () =>
        table(
          ['image', 'size', 'seconds', 'status'],
          [
            [r.base.image, mb(r.base.size), r.base.seconds.toFixed(1), r.base.status === 'reused' ? 'up to date' : r.base.status],
            ...r.images.map((i) => [i.tag, mb(i.size), i.seconds.toFixed(1), i.status === 'reused' ? 'up to date' : 'built']),
          ],
        ) + `\n${r.images.filter((i) => i.status === 'built').length} built, ${r.images.filter((i) => i.status === 'reused').length} up to date in ${r.seconds.toFixed(1)} s`,
      );
    });
}

/**
 * `kseed up` tells the user to run plain `kseed images build`: so when the
 * site file enables ironic-inspector, or several conductors (MariaDB), those
 * images are part of the default set.
 */
async function siteWantsInspector(configPath: string, say: (m: string) => void): Promise<{ inspector: boolean; mariadb: boolean }> {
  if (!existsSync(configPath)) return { inspector: false, mariadb: false };
  try {
    const { ironic } = await loadSite(configPath);
    return { inspector: ironic.inspector, mariadb: ironic.conductors >= 2 };
  } catch (err) {
    say(`note: ${configPath} not loaded (${(err as Error).message}); building the default images`);
    return { inspector: false, mariadb: false };
  }
}

function servicesOf(o: { only?: string; inspector?: boolean }, site = { inspector: false, mariadb: false }) {
  if (!o.only) {
    return [...DEFAULT_SERVICES, ...(o.inspector || site.inspector ? ['inspector' as const] : []), ...(site.mariadb ? ['mariadb' as const] : [])];
  }
  try {
    return parseServices(o.only);
  } catch (err) {
    throw new InputError(`--only: ${(err as Error).message}`);
  }
}

function registerFetch(images: Command): void {
  images
    .command('fetch')
    .description('download the .debs of the seed images (and the debootstrap tarball) for `images build --offline DIR`')
    .requiredOption('--out <dir>', 'bundle directory (one subdirectory per image, base/ for the debootstrap tarball)')
    .option('--base <image>', 'a local Debian bookworm image to resolve packages in (default: the debootstrapped base)')
    .option('--only <services>', 'comma-separated: ironic,dnsmasq,http,registry,inspector,mariadb')
    .option('--inspector', 'also fetch ironic-inspector', false)
    .option('--cache <dir>', 'cache directory (default: .kseed/cache beside the site file)')
    .action(async (o: { out: string; base?: string; only?: string; inspector?: boolean; cache?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await fetchSeedDebs({
        cacheDir: o.cache ? path.resolve(o.cache) : path.join(ctx.stateDir, 'cache'),
        out: path.resolve(o.out),
        services: servicesOf(o, await siteWantsInspector(ctx.configPath, (m) => ctx.out.progress(m))),
        baseImage: o.base,
        onProgress: (m) => ctx.out.progress(m),
      });
      const summary = {
        base: r.base.image,
        tarball: r.tarball,
        services: r.services.map((s) => ({ ...s, seconds: Number(s.seconds.toFixed(1)) })),
        seconds: Number(r.seconds.toFixed(1)),
      };
      ctx.out.result(summary, () =>
        table(
          ['image', 'directory', '.debs', 'size'],
          r.services.map((s) => [s.name, s.dir, String(s.debs), mb(s.bytes)]),
        ) + `\nfetched in ${r.seconds.toFixed(1)} s; build with: kseed images build --offline ${o.out}`,
      );
    });
}
