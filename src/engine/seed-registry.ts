/**
 * The seed registry on the embedded engine, part of its seed: `kseed down`
 * stops it with the boot services (embedded-seed.ts). The Ironic engine's Compose
 * stack runs it as one of its services; the embedded engine has no stack,
 * so `kseed mirror up` (and `kseed mirror sync`, which needs it) runs the
 * same image (kseed/registry, Debian's docker-registry) as one container,
 * with the same config and entrypoint templates (templates/stack/registry)
 * and the same htpasswd from .kseed/secrets. With seed.netns (the lab) its
 * PID 1 enters the namespace before it serves, as the stack's does
 * (render/model.ts, stackPlacement), so it listens on the seed address the
 * nodes reach. The data volume outlives the container: a registry stopped
 * and started again still holds what was pushed.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkSeed } from '../compose/preflight.js';
import { InputError, KseedError } from '../errors.js';
import { createEnv } from '../render/env.js';
import { buildModel, IMAGE_REPOS, projectName } from '../render/model.js';
import { ensureSecrets } from '../render/secrets.js';
import { REPO_ROOT } from '../render/stack.js';
import { resolveSecret } from '../site/secrets.js';
import type { Site } from '../site/types.js';
import { pidInNetns } from '../util/netns.js';
import { requireTool, runQuiet, which } from '../util/tools.js';

const HASH_LABEL = 'io.kseed.config-hash';

export interface SeedRegistry {
  /** host:port the nodes and kseed use */
  address: string;
  container: string;
  /** false: one with this very config already ran */
  started: boolean;
}

export const registryContainerOf = (site: Pick<Site, 'site'>) => `${projectName(site)}-registry`;

function imageTag(): string {
  return process.env.KSEED_IMAGE_TAG ?? (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** docker's quick verbs (inspect, run -d, rm, logs): never a pull, the image is local. */
async function docker(args: string[]) {
  return runQuiet('docker', args, { timeoutMs: 120_000 });
}

/** /proc/net/tcp's form of a listening socket on the address and port (what the stack's healthcheck greps). */
function listenLine(address: string, port: number): string {
  const a = address.split('.').reverse().map((b) => Number(b).toString(16).toUpperCase().padStart(2, '0')).join('');
  return `${a}:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A`;
}

async function inspect(name: string): Promise<{ running: boolean; pid: number; hash?: string } | undefined> {
  const r = await docker(['inspect', '-f', `{{.State.Running}} {{.State.Pid}} {{index .Config.Labels "${HASH_LABEL}"}}`, name]);
  if (r.exitCode !== 0) return undefined;
  const [running, pid, hash] = r.stdout.trim().split(' ');
  return { running: running === 'true', pid: Number(pid), ...(hash ? { hash } : {}) };
}

/** Starts the seed registry unless one with the same config runs (in the right namespace); waits until it listens. */
export async function ensureSeedRegistry(site: Site, stateDir: string, opts: { timeoutMs?: number } = {}): Promise<SeedRegistry> {
  const address = `${site.seed.address}:${site.seed.ports.registry}`;
  const name = registryContainerOf(site);
  if (!site.registry.enabled) throw new InputError(`${site.file}: registry.enabled is false: the seed runs no registry`);
  if (site.engine !== 'embedded') return { address, container: `${projectName(site)} (Compose service registry)`, started: false };
  requireTool('docker', 'to run the seed registry (kseed/registry)');
  if (site.seed.netns) {
    try {
      statSync(`/run/netns/${site.seed.netns}`);
    } catch {
      throw new KseedError(`network namespace "${site.seed.netns}" (seed.netns) does not exist: create the lab with \`kseed lab up\`, or remove seed.netns`, { code: 'no-netns' });
    }
  }
  const password = site.registry.password ? await resolveSecret(site.registry.password, site) : undefined;
  const secretsDir = path.join(stateDir, 'secrets');
  const secrets = await ensureSecrets(secretsDir, { registryUser: site.registry.username, inspector: site.ironic.inspector, ...(password !== undefined ? { registryPassword: password } : {}) });
  const tag = imageTag();
  const model = buildModel(site, secrets, { imageTag: tag, secretsRel: secretsDir });
  const image = `${IMAGE_REPOS.registry}:${tag}`;
  if ((await docker(['image', 'inspect', image])).exitCode !== 0) {
    throw new KseedError(`image not found: ${image} — build it with: kseed images build`, { code: 'image-not-found' });
  }

  const hb = createEnv();
  const dir = path.join(stateDir, 'registry');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files: Record<string, string> = {};
  for (const f of ['config.yml', 'entrypoint.sh']) {
    const src = path.join(REPO_ROOT, 'templates', 'stack', 'registry', `${f}.hbs`);
    files[f] = hb.compile(await readFile(src, 'utf8'), { strict: true, noEscape: true })(model);
    await writeFile(path.join(dir, f), files[f]!, { mode: f.endsWith('.sh') ? 0o755 : 0o644 });
  }
  const htpasswd = path.join(secretsDir, 'registry-htpasswd');
  const hash = createHash('sha256')
    .update([image, site.seed.netns ?? '', files['config.yml'], files['entrypoint.sh'], await readFile(htpasswd, 'utf8')].join('\0'))
    .digest('hex')
    .slice(0, 16);

  const now = await inspect(name);
  if (now?.running && now.hash === hash && (!site.seed.netns || pidInNetns(now.pid, site.seed.netns))) return { address, container: name, started: false };
  // a registry on an address the host lacks dies on bind() after its start-up wait and
  // leaves an exited container: refuse before anything starts
  try {
    await checkSeed(site.seed);
  } catch (err) {
    const e = err as KseedError;
    throw new KseedError(`the seed registry listens on the seed address, and ${e.message}: bring the seed up first (\`kseed up\` checks the same), then run this again; no container was started`, { code: e.code, ...(e.detail ? { detail: e.detail } : {}) });
  }
  if (now) await docker(['rm', '-f', name]);
  const netns = site.seed.netns
    ? [
        '--cap-add',
        'SYS_ADMIN',
        // a missing namespace is an error, never a directory Docker creates in its place
        '--mount',
        `type=bind,source=/run/netns/${site.seed.netns},target=/kseed/netns,readonly`,
        '--entrypoint',
        'nsenter',
      ]
    : ['--entrypoint', '/bin/sh'];
  // PID 1 enters the namespace, then drops CAP_SYS_ADMIN (needed for setns only)
  const cmd = site.seed.netns ? ['--net=/kseed/netns', '--', 'setpriv', '--bounding-set=-sys_admin', '--inh-caps=-sys_admin', '--', '/bin/sh', '/kseed/entrypoint.sh'] : ['/kseed/entrypoint.sh'];
  const r = await docker([
    'run',
    '-d',
    '--name',
    name,
    '--label',
    `${HASH_LABEL}=${hash}`,
    '--network',
    'host',
    '--restart',
    'unless-stopped',
    ...netns,
    '-v',
    `${path.join(dir, 'config.yml')}:/etc/docker/registry/config.yml:ro`,
    '-v',
    `${path.join(dir, 'entrypoint.sh')}:/kseed/entrypoint.sh:ro`,
    '-v',
    `${htpasswd}:/run/secrets/registry-htpasswd:ro`,
    '-v',
    `${name}-data:/var/lib/docker-registry`,
    image,
    ...cmd,
  ]);
  if (r.exitCode !== 0) throw new KseedError(`docker run of the seed registry (${name}) failed`, { code: 'registry-start', detail: r.stderr.trim() });

  const want = listenLine(site.seed.address, site.seed.ports.registry);
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const st = await inspect(name);
    if (st?.running && st.pid > 0) {
      try {
        if (readFileSync(`/proc/${st.pid}/net/tcp`, 'utf8').includes(want)) return { address, container: name, started: true };
      } catch {
        // the process is between exec steps: look again
      }
    }
    if (!st?.running || Date.now() > deadline) {
      const logs = await docker(['logs', '--tail', '15', name]);
      throw new KseedError(`the seed registry (${name}) did not start listening on ${address}`, { code: 'registry-start', detail: `${logs.stdout}${logs.stderr}`.trim() });
    }
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Removes the container (its data volume stays); false when there was none. */
export async function stopSeedRegistry(site: Site): Promise<{ stopped: boolean; container: string }> {
  const name = registryContainerOf(site);
  if (site.engine !== 'embedded') return { stopped: false, container: name };
  // without docker there is no container to remove: `kseed down` goes on with the rest
  if (!which('docker')) return { stopped: false, container: name };
  const now = await inspect(name);
  if (!now) return { stopped: false, container: name };
  const r = await docker(['rm', '-f', name]);
  if (r.exitCode !== 0) throw new KseedError(`docker rm -f ${name} failed`, { detail: r.stderr.trim() });
  return { stopped: true, container: name };
}
