/**
 * `kseed discover --range CIDR`: find BMCs on UDP 623 (ASF ping + Get
 * Channel Authentication Capabilities), optionally Redfish on 443, report
 * what they are and their security findings, and optionally write a
 * site-file fragment listing them. Through the seed service when it runs
 * (a job: the scan runs from the seed), but with --username (service/discover-verb.ts).
 */
import { constants } from 'node:fs';
import { access, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { stringify } from '../util/vendor/yaml.js';
import type { DiscoverDoc, DiscoverRequest, Found } from '../service/discover-verb.js';
import type { JobView } from '../service/jobs.js';
import { InputError } from '../errors.js';
import { contextOf } from './context.js';
import { table } from './output.js';

function int(name: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InputError(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

function fragment(found: Found[], range: string): string {
  const nodes = found.map((f) => {
    const redfishOnly = !f.ipmi;
    const bmc: Record<string, unknown> = redfishOnly
      ? { type: 'redfish', address: f.address, port: f.redfish!.port, ...(f.redfish!.scheme === 'http' ? { scheme: 'http' } : {}) }
      : { type: 'ipmi', address: f.address, ...(f.ipmi!.port !== 623 ? { port: f.ipmi!.port } : {}) };
    if (f.ipmi?.cipherSuites?.includes(17)) bmc.cipher_suite = 17;
    else if (f.ipmi?.cipherSuites?.includes(3)) bmc.cipher_suite = 3;
    return { name: `bmc-${f.address.replace(/\./g, '-')}`, bmc, macs: [], roles: [] };
  });
  const head = [
    `# kseed discover --range ${range}  (${new Date().toISOString()})`,
    '# Found BMCs as site-file nodes: rename them, add each node\'s PXE MAC (macs)',
    '# and roles, and put credentials in defaults.bmc before `kseed validate`.',
  ].join('\n');
  return `${head}\n${stringify({ nodes }, { flow: false })}`;
}

export function register(program: Command): void {
  program
    .command('discover')
    .description('find BMCs in an address range (IPMI on UDP 623; Redfish with --redfish) and report their security')
    .requiredOption('--range <cidr>', 'IPv4 range, e.g. 10.0.0.0/24 (at most /16)')
    .option('--redfish', 'also probe GET /redfish/v1/ (HTTPS 443)')
    .option('--port <n>', 'IPMI UDP port', int('port', 1, 65535), 623)
    .option('--redfish-port <n>', 'Redfish port (default 443, or 80 with --redfish-scheme http)', int('redfish-port', 1, 65535))
    .option('--redfish-scheme <scheme>', 'https or http (simulators)', 'https')
    .option('--concurrency <n>', 'addresses probed at once', int('concurrency', 1, 1024), 64)
    .option('--rate <n>', 'new addresses per second', int('rate', 1, 100000), 500)
    .option('--timeout <ms>', 'wait per probe, ms (two tries)', int('timeout', 50, 60000), 500)
    .option('--write <file>', 'write the found BMCs as a site-file fragment (never overwrites)')
    .option('--username <name>', 'also log in (RMCP+, User level) to read the vendor and check these credentials')
    .option('--password-env <var>', 'environment variable holding the password for --username', 'KSEED_BMC_PASSWORD')
    .action(async (o: { range: string; username?: string; passwordEnv: string; redfish?: boolean; port: number; redfishPort?: number; redfishScheme: string; concurrency: number; rate: number; timeout: number; write?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { discoverAddresses, runDiscover } = await import('../service/discover-verb.js');
      const addresses = discoverAddresses(o);
      let credentials: { username: string; password: string } | undefined;
      if (o.username) {
        // from the environment only: a password on the command line shows in `ps`
        const password = process.env[o.passwordEnv];
        if (!password) throw new InputError(`--username needs the password in environment variable ${o.passwordEnv}`);
        credentials = { username: o.username, password };
      }
      const out = o.write ? path.resolve(o.write) : undefined;
      if (out && (await exists(out))) throw new InputError(`--write ${o.write}: the file exists; kseed does not overwrite it`);

      const req: DiscoverRequest = { range: o.range, redfish: Boolean(o.redfish), port: o.port, ...(o.redfishPort ? { redfishPort: o.redfishPort } : {}), redfishScheme: o.redfishScheme, concurrency: o.concurrency, rate: o.rate, timeout: o.timeout };
      const here = () => runDiscover({ ...req, ...(credentials ? { credentials } : {}) }, (line) => ctx.out.progress(line));
      // a scan that logs in stays here: the password is in this command's environment only
      const { viaService } = await import('../service/client.js');
      const { followJob, warnLine } = await import('./verb-run.js');
      const doc = credentials
        ? await here()
        : await viaService<DiscoverDoc>(
            ctx.stateDir,
            async (call) => {
              const body = { range: req.range, ...(req.redfish ? { redfish: true } : {}), port: req.port, ...(req.redfishPort ? { redfish_port: req.redfishPort } : {}), redfish_scheme: req.redfishScheme, concurrency: req.concurrency, rate: req.rate, timeout: req.timeout };
              return followJob<DiscoverDoc>(ctx, call, await call<JobView>('POST', '/discover', body));
            },
            here,
            warnLine,
          );
      const found = doc.found;

      if (out && found.length) {
        // write beside, then rename: a killed run never leaves half a file
        const tmp = `${out}.${process.pid}.tmp`;
        await writeFile(tmp, fragment(found, o.range), { mode: 0o644, flag: 'wx' });
        await rename(tmp, out);
        ctx.out.progress(`wrote ${found.length} node${found.length === 1 ? '' : 's'} to ${out}`);
      }
      const findings = found.reduce((n, f) => n + (f.ipmi?.findings.length ?? 0), 0);
      ctx.out.result({ range: o.range, scanned: addresses.length, found, ...(out && found.length ? { written: out } : {}) }, () => {
        if (!found.length) return `no BMCs found in ${o.range}`;
        const t = table(
          ['ADDRESS', 'PROTOCOLS', 'IPMI', 'VENDOR', 'CIPHER SUITES', 'FINDINGS', ...(credentials ? ['LOGIN'] : [])],
          found.map((f) => [
            f.ipmi && f.ipmi.port !== 623 ? `${f.address}:${f.ipmi.port}` : f.address,
            f.protocols.join('+'),
            f.ipmi?.ipmiVersions.join(',') || undefined,
            f.ipmi?.vendor?.name ?? f.redfish?.vendor ?? (f.ipmi?.vendor ? `IANA ${f.ipmi.vendor.iana}` : undefined),
            f.ipmi?.cipherSuites?.join(','),
            f.ipmi?.findings.map((x) => x.code).join(',') || undefined,
            ...(credentials ? [f.ipmi?.login] : []),
          ]),
        );
        const details = found.flatMap((f) => (f.ipmi?.findings ?? []).map((x) => `  ${f.address}: [${x.severity}] ${x.message}`));
        return [t, '', `${found.length} BMC${found.length === 1 ? '' : 's'} in ${addresses.length} addresses; ${findings} security finding${findings === 1 ? '' : 's'}`, ...details].join('\n');
      });
    });
}
