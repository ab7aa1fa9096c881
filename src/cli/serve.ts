/**
 * `kseed serve`: the seed service (its API on 127.0.0.1, lease expiry) in
 * the foreground until Ctrl-C or SIGTERM; one JSON line per request on stdout.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { contextOf, noSiteFile } from './context.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the seed service (JSON API under /api/v1, node leases) in the foreground')
    .option('--port <port>', 'TCP port (default: the site\'s seed.ports.api, 9480)')
    .option('--host <address>', 'listen address (default 127.0.0.1); off 127.0.0.0/8 only with --tls')
    .option('--tls', 'HTTPS with a certificate of kseed\'s own CA (made in .kseed/secrets/; clients verify with api-ca.crt: KSEED_CA, curl --cacert)')
    .action(async (o: { port?: string; host?: string; tls?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (!existsSync(ctx.configPath)) throw noSiteFile(ctx);
      const port = o.port === undefined ? undefined : Number(o.port);
      if (port !== undefined && (!/^\d+$/.test(o.port!) || port > 65535)) throw new InputError(`--port must be a TCP port (0-65535), not "${o.port}"`, [], { code: 'bad-port' });
      const site = await (await import('../site/load.js')).loadSite(ctx.configPath);
      const [{ startService }, { candidatesOf }, { engineWork }] = await Promise.all([import('../service/serve.js'), import('../service/leases.js'), import('../service/lease-engine.js')]);
      const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
      let stop: (why: string) => void = () => undefined;
      const stopped = new Promise<string>((resolve) => {
        stop = resolve;
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      const line = (e: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), ...e })}\n`);
      const svc = await startService({
        stateDir: ctx.stateDir,
        nodes: candidatesOf(site),
        site,
        work: engineWork(site, ctx.stateDir, (e) => line({ service: 'api', type: 'lease-node', node: e.node, kind: e.kind, ...(e.from ? { from: e.from, to: e.to } : {}), ...(e.message ? { message: e.message } : {}) })),
        ...(o.host ? { host: o.host } : {}),
        ...(o.tls ? { tls: true } : {}),
        port: port ?? site.seed.ports.api,
        version,
        log: line,
        orphaned: () => stop('orphaned'),
      });
      const signal = await stopped;
      await Promise.race([svc.close(), new Promise((r) => setTimeout(r, 5000).unref())]);
      line({ service: 'api', type: 'stopped', signal });
    });
}
