/**
 * renderStack: site file -> `.kseed/stack/` (a Compose project).
 *
 * Deterministic: the same site and secrets give byte-identical files (no
 * timestamps, sorted keys, node order from the site file). Atomic: files are
 * rendered into a temporary directory beside the target and swapped in with
 * renames, so a failing template or a crash leaves the previous stack as it
 * was. A render with nothing changed touches nothing and says so.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from '../util/vendor/yaml.js';
import { InputError, KseedError } from '../errors.js';
import type { Site } from '../site/types.js';
import { createEnv, sortKeys } from './env.js';
import { buildModel, MARIADB_ADDRESS, MARIADB_PORT, type BootArtifacts, type StackModel, type StackPlacement, type StackService } from './model.js';
import { ensureSecrets, type StackSecrets } from './secrets.js';

/** Repository root: src/render/ and dist/render/ both sit two levels below it. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface RenderOptions {
  /** Default `<site.dir>/.kseed/stack`. */
  outDir?: string;
  /** Default `<site.dir>/.kseed/secrets`. */
  secretsDir?: string;
  /** Tag of the kseed/* images; default the kseed version. */
  imageTag?: string;
  /** Where `docker-compose.yml.hbs` lives (tests point elsewhere). */
  composeDir?: string;
  /** Where the per-service `stack/<service>/*.hbs` templates live. */
  templatesDir?: string;
  /** The site's registry password, resolved from its SecretRef by the caller. */
  registryPassword?: string;
  /** Deploy kernel/initramfs directory (default `<site.dir>/.kseed/cache/ramdisk`, where `kseed images ramdisk` puts them). */
  artifactsDir?: string;
  /** File names in artifactsDir; default vmlinuz, initramfs.gz (as `kseed boot serve`). */
  kernel?: string;
  initrd?: string;
}

export interface RenderResult {
  outDir: string;
  secretsDir: string;
  project: string;
  composeFile: string;
  /** image per service that the stack runs. */
  images: Record<string, string>;
  /** Compose services: the StackServices, then the conductors (ironic.conductors >= 2). */
  services: string[];
  /** Where each part listens (seed.netns split). */
  placement: StackPlacement;
  added: string[];
  changed: string[];
  removed: string[];
  /** True when nothing had to be written. */
  unchanged: boolean;
}

interface RenderedFile {
  rel: string;
  content: string;
  mode: number;
}

function kseedVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'latest';
  }
}

async function walk(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(full, base)));
    else if (e.isFile()) out.push(path.relative(base, full));
  }
  return out.sort();
}

/** Every file of the stack, in memory: nothing touches the disk until all templates rendered. */
/** Which secrets each service mounts (compose `secrets:`), for its config digest. */
const SERVICE_SECRETS: Partial<Record<StackService, string[]>> = {
  ironic: ['ironic-htpasswd', 'ironic-secrets-conf'],
  registry: ['registry-htpasswd'],
  inspector: ['ironic-htpasswd', 'inspector-secrets-conf'],
  mariadb: ['mariadb-password'],
};
/** Secrets only a stack with several conductors has: hashed only when present, so a one-conductor stack's digests stay as they were. */
const MULTI_SECRETS: Partial<Record<StackService, string[]>> = { ironic: ['ironic-db-conf'] };

async function renderFiles(
  model: StackModel,
  composeDir: string,
  templatesDir: string,
  secretDigests: Record<string, string>,
): Promise<RenderedFile[]> {
  const hb = createEnv();
  const files: RenderedFile[] = [];
  const renderOne = async (src: string, rel: string, ctx: object = model) => {
    const text = await readFile(src, 'utf8');
    let content: string;
    try {
      content = hb.compile(text, { strict: true, noEscape: true })(ctx);
    } catch (err) {
      throw new KseedError(`template ${path.relative(REPO_ROOT, src)} failed to render`, {
        detail: (err as Error).message,
        code: 'render-failed',
        cause: err,
      });
    }
    files.push({ rel, content, mode: rel.endsWith('.sh') ? 0o755 : 0o644 });
  };
  const composeSrc = path.join(composeDir, 'docker-compose.yml.hbs');
  if (!existsSync(composeSrc)) throw new KseedError(`missing template ${composeSrc}`, { code: 'render-failed' });
  for (const rel of await walk(templatesDir)) {
    if (!rel.endsWith('.hbs')) continue;
    const service = rel.split(path.sep)[0] as StackService;
    // A service's config directory is rendered only when the stack runs it.
    if (!model.services.includes(service)) continue;
    await renderOne(path.join(templatesDir, rel), rel.slice(0, -'.hbs'.length).split(path.sep).join('/'));
  }
  // Compose recreates a container only when its service definition changes,
  // not when a bind-mounted file does: a label with the digest of the
  // service's files and secrets makes a changed dnsmasq.conf restart dnsmasq.
  const configHash: Record<string, string> = {};
  for (const service of model.services) {
    const h = createHash('sha256');
    for (const f of files.filter((x) => x.rel.startsWith(`${service}/`)).sort((a, b) => (a.rel < b.rel ? -1 : 1))) {
      h.update(`${f.rel}\0${f.mode}\0${f.content}\0`);
    }
    for (const name of SERVICE_SECRETS[service] ?? []) h.update(`${name}\0${secretDigests[name] ?? ''}\0`);
    for (const name of MULTI_SECRETS[service] ?? []) if (secretDigests[name]) h.update(`${name}\0${secretDigests[name]}\0`);
    configHash[service] = h.digest('hex').slice(0, 16);
  }
  const composeModel = { ...model, configHash };
  const before = files.length;
  await renderOne(composeSrc, 'docker-compose.yml', composeModel);
  const compose = files[before] as RenderedFile;
  // What down/status/logs need without re-reading the site file (which may have changed since `up`).
  files.push({ rel: STACK_MANIFEST, content: `${JSON.stringify(sortKeys(manifestOf(model)), null, 2)}\n`, mode: 0o644 });
  try {
    YAML.parse(compose.content, { uniqueKeys: true });
  } catch (err) {
    throw new KseedError('the rendered docker-compose.yml is not valid YAML', {
      detail: (err as Error).message,
      code: 'render-failed',
      cause: err,
    });
  }
  return files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

export const STACK_MANIFEST = 'kseed-stack.json';
export const DEFAULT_KERNEL = 'vmlinuz';
export const DEFAULT_INITRD = 'initramfs.gz';

export interface StackManifest {
  project: string;
  site: string;
  composeFile: string;
  services: string[];
  images: Record<string, string>;
  volumes: Record<string, string>;
  /** What `kseed up` hands the boot service and the Ironic engine (absent in stacks rendered before it existed). */
  boot?: BootArtifacts;
  placement?: StackPlacement;
  netns?: string;
}

/** What each named volume holds: `kseed down --volumes` says what it deletes. */
export const VOLUME_CONTENT: Record<string, string> = {
  'ironic-data': 'Ironic database (enrolled nodes, their state) and httpboot/tftpboot',
  'dnsmasq-data': 'DHCP leases',
  'registry-data': 'images pushed to the seed registry',
  'inspector-data': 'ironic-inspector database (introspection data)',
  'mariadb-data': 'Ironic database of a stack with several conductors (ironic.conductors)',
};

/** Every Compose service of the stack: the conductors run the Ironic image. */
function composeServices(model: StackModel): string[] {
  return [...model.services, ...model.ironic.conductors.map((c) => c.service)];
}

function composeImages(model: StackModel): Record<string, string> {
  return {
    ...Object.fromEntries(model.services.map((s) => [s, model.images[s]])),
    ...Object.fromEntries(model.ironic.conductors.map((c) => [c.service, model.images.ironic])),
  };
}

function manifestOf(model: StackModel): StackManifest {
  const volumes: Record<string, string> = {};
  for (const [v, what] of Object.entries(VOLUME_CONTENT)) {
    if (v === 'registry-data' && !model.services.includes('registry')) continue;
    if (v === 'inspector-data' && !model.services.includes('inspector')) continue;
    if (v === 'mariadb-data' && !model.services.includes('mariadb')) continue;
    volumes[v] = what;
  }
  return {
    project: model.project,
    site: model.site,
    composeFile: 'docker-compose.yml',
    services: composeServices(model),
    images: composeImages(model),
    volumes,
    boot: model.boot,
    placement: model.placement,
    ...(model.seed.netns ? { netns: model.seed.netns } : {}),
  };
}

/** Reads the manifest of a rendered stack; undefined when there is none. */
export async function readStackManifest(outDir: string): Promise<StackManifest | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(outDir, STACK_MANIFEST), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as StackManifest;
  } catch (err) {
    throw new KseedError(`${path.join(outDir, STACK_MANIFEST)} is damaged: run \`kseed render\` again`, { detail: String(err) });
  }
}

async function readTree(dir: string): Promise<Map<string, { content: string; mode: number }>> {
  const out = new Map<string, { content: string; mode: number }>();
  for (const rel of await walk(dir)) {
    const full = path.join(dir, rel);
    const s = await stat(full);
    out.set(rel.split(path.sep).join('/'), { content: await readFile(full, 'utf8'), mode: s.mode & 0o777 });
  }
  return out;
}

/** Leftovers of a render that crashed between its two renames. */
async function sweep(outDir: string): Promise<void> {
  const parent = path.dirname(outDir);
  const prefix = `.${path.basename(outDir)}.`;
  let names: string[] = [];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const m = /\.(?:new|old)-(\d+)-/.exec(n.slice(prefix.length - 1));
    const pid = m ? Number(m[1]) : NaN;
    // Leave a concurrent render's working directory alone.
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) continue;
    await rm(path.join(parent, n), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function renderStack(site: Site, opts: RenderOptions = {}): Promise<RenderResult> {
  const stateDir = path.join(site.dir, '.kseed');
  const outDir = path.resolve(opts.outDir ?? path.join(stateDir, 'stack'));
  const secretsDir = path.resolve(opts.secretsDir ?? path.join(stateDir, 'secrets'));
  const composeDir = opts.composeDir ?? path.join(REPO_ROOT, 'compose');
  const templatesDir = opts.templatesDir ?? path.join(REPO_ROOT, 'templates', 'stack');

  if (site.seed.netns && site.ironic.inspector) {
    // the inspector's API must be reachable by the nodes' ramdisk; in the split stack nothing but nginx, dnsmasq and the registry is
    throw new InputError('ironic.inspector is not supported when the seed lives in a network namespace (seed.netns)', [
      { file: site.file, path: 'ironic.inspector', message: 'set ironic.inspector: false, or remove seed.netns' },
    ]);
  }
  for (const [what, name] of [['kernel', opts.kernel], ['initrd', opts.initrd]] as const) {
    if (name !== undefined && !/^[A-Za-z0-9._-]+$/.test(name)) throw new InputError(`--${what} must be a file name in the artifacts directory, not ${JSON.stringify(name)}`);
  }
  // dnsmasq always listens for TFTP on port 69 (only transfer ports are configurable), and PXE ROMs only ask there.
  if (site.seed.ports.tftp !== 69) {
    throw new InputError(`the Compose stack serves TFTP on port 69 only (seed.ports.tftp is ${site.seed.ports.tftp})`, [
      { file: site.file, path: 'seed.ports.tftp', message: `must be 69 for engine ironic, not ${site.seed.ports.tftp}` },
    ]);
  }
  const secrets: StackSecrets = await ensureSecrets(secretsDir, {
    registryUser: site.registry.username,
    ...(opts.registryPassword !== undefined ? { registryPassword: opts.registryPassword } : {}),
    inspector: site.ironic.inspector,
    ...(site.ironic.conductors >= 2 ? { database: { address: MARIADB_ADDRESS, port: MARIADB_PORT } } : {}),
  });
  const secretsRel = path.relative(outDir, secretsDir).split(path.sep).join('/') || '.';
  const artifactsAbs = path.resolve(opts.artifactsDir ?? path.join(stateDir, 'cache', 'ramdisk'));
  const artifactsRel = path.relative(outDir, artifactsAbs).split(path.sep).join('/');
  const boot = {
    // Compose takes a volume source as a path only when it starts with . or /
    artifactsDir: artifactsRel.startsWith('.') ? artifactsRel : `./${artifactsRel}`,
    kernel: opts.kernel ?? DEFAULT_KERNEL,
    initrd: opts.initrd ?? DEFAULT_INITRD,
  };
  // Compose's short volume syntax splits on ':'
  if (artifactsAbs.includes(':')) throw new InputError(`the artifacts directory ${artifactsAbs} must not contain ':'`);
  const model = buildModel(site, secrets, { imageTag: opts.imageTag ?? kseedVersion(), secretsRel, boot });
  const secretDigests: Record<string, string> = {};
  for (const [name, file] of Object.entries(secrets.files)) {
    secretDigests[name] = createHash('sha256').update(await readFile(path.join(secretsDir, file))).digest('hex');
  }
  const files = await renderFiles(model, composeDir, templatesDir, secretDigests);

  await mkdir(path.dirname(outDir), { recursive: true });
  await sweep(outDir);
  const previous = existsSync(outDir) ? await readTree(outDir) : new Map<string, { content: string; mode: number }>();
  const added: string[] = [];
  const changed: string[] = [];
  for (const f of files) {
    const old = previous.get(f.rel);
    if (!old) added.push(f.rel);
    else if (old.content !== f.content || old.mode !== f.mode) changed.push(f.rel);
  }
  const wanted = new Set(files.map((f) => f.rel));
  const removed = [...previous.keys()].filter((rel) => !wanted.has(rel)).sort();
  const result: RenderResult = {
    outDir,
    secretsDir,
    project: model.project,
    composeFile: path.join(outDir, 'docker-compose.yml'),
    images: composeImages(model),
    services: composeServices(model),
    placement: model.placement,
    added,
    changed,
    removed,
    unchanged: added.length + changed.length + removed.length === 0 && existsSync(outDir),
  };
  if (result.unchanged) return result;

  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const base = path.join(path.dirname(outDir), `.${path.basename(outDir)}`);
  const tmp = `${base}.new-${tag}`;
  const old = `${base}.old-${tag}`;
  try {
    for (const f of files) {
      const dest = path.join(tmp, f.rel);
      await mkdir(path.dirname(dest), { recursive: true });
      await writeFile(dest, f.content, { mode: f.mode });
      await chmod(dest, f.mode);
    }
    const hadOld = existsSync(outDir);
    if (hadOld) await rename(outDir, old);
    try {
      await rename(tmp, outDir);
    } catch (err) {
      if (hadOld) await rename(old, outDir);
      throw err;
    }
    if (hadOld) await rm(old, { recursive: true, force: true });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof KseedError) throw err;
    throw new KseedError(`cannot write the stack to ${outDir}`, { detail: String(err), cause: err });
  }
  return result;
}
